using System.Diagnostics;
using GuestMemory.Phys;
using GuestMemory.State;

namespace GuestMemory.Migration.Source;

/// <summary>
/// The source of a live move (docs/migration-protocol.md): handshake, pre-copy passes while the guest
/// runs until the convergence vote says pause, the caller's pause, STOP and the final pass, COMMIT,
/// then RESUME once the target has committed, and the source VM destroyed once the target confirms.
/// </summary>
/// <remarks>
/// <para><b>Failure.</b> Until RESUME is sent the source decides nothing irreversible: any error (a
/// refusal, a dropped or corrupted connection, the target's ABORT, a layout change) tells the target to
/// abort if the connection still carries it, gives the VM's dirty tracking back, calls the caller's
/// resume if it had paused the guest, and throws; the VM is as it was (its memory, its pages' kinds and
/// its accounts; pages the tracker armed stay write-monitored, which costs the next write to each one
/// slow path). After RESUME the target may be running the VM: if the connection then drops before
/// RESUMED arrives, the source keeps its copy paused and throws <see cref="GmmError.MigrationInDoubt"/>:
/// resuming it could leave two copies running.</para>
/// </remarks>
internal sealed class MoveSession(VirtualMachine vm, Action pause, Action resume, MoveOptions options, IProgress<MigrationProgress>? progress)
{
    private readonly long _start = Stopwatch.GetTimestamp();
    private readonly List<PassReport> _passes = [];
    private MigrationConnection _connection = null!;
    private MigrationPhase _phase = MigrationPhase.Handshake;
    private bool _paused;
    private bool _resumeSent;

    public MoveReport Run(Stream transport)
    {
        using var connection = new MigrationConnection(transport, options.Timeout);
        _connection = connection;
        ImageSender? sender = null;
        try
        {
            MemoryRange[] ranges = vm.Memory.RangeSnapshot();
            Acceptance accepted = SourceHandshake.Run(connection, vm, ranges, MigrationMode.Move);
            sender = new ImageSender(vm, ranges, connection, accepted.ContentReferences && vm.Options.PageSharing);
            ConvergenceVote.Decision decision = PreCopy(sender);
            (TimeSpan downtime, CommitDone done) = StopAndCopy(sender, ranges);
            sender.Dispose();
            vm.Manager.DestroyVm(vm);
            Report(MigrationPhase.Completed);
            return new MoveReport
            {
                Total = Stopwatch.GetElapsedTime(_start), Downtime = downtime, TargetCommit = TimeSpan.FromMicroseconds(done.CommitMicroseconds),
                BytesSent = connection.Stream.BytesWritten, BytesReceived = connection.Stream.BytesRead,
                GuestBytes = ranges.Sum(r => (long)r.Entries.Length) * Paging.PageSize, Passes = _passes,
                StopReason = decision.Reason, ExpectedFinalPass = decision.ExpectedFinalPass, ContentReferences = accepted.ContentReferences,
            };
        }
        catch (Exception e)
        {
            sender?.Dispose();
            throw Fail(e);
        }
    }

    /// <summary>Passes while the guest runs, until the vote says pause.</summary>
    private ConvergenceVote.Decision PreCopy(ImageSender sender)
    {
        _phase = MigrationPhase.PreCopy;
        var vote = new ConvergenceVote(options);
        while (true)
        {
            PassReport pass = sender.SendLivePass(final: false);
            _passes.Add(pass);
            vote.PassDone(pass);
            Report(MigrationPhase.PreCopy);
            ConvergenceVote.Decision decision = vote.Decide(sender.CountPending(), _passes.Count);
            if (decision.Pause) return decision;
        }
    }

    /// <summary>Pauses the guest, sends the final pass, has the target commit and resume; returns the downtime.</summary>
    private (TimeSpan Downtime, CommitDone Done) StopAndCopy(ImageSender sender, MemoryRange[] ranges)
    {
        _phase = MigrationPhase.StopAndCopy;
        long pausedAt = Stopwatch.GetTimestamp();
        pause();
        _paused = true;
        Report(MigrationPhase.StopAndCopy);
        if (!ReferenceEquals(vm.Memory.RangeSnapshot(), ranges))
            throw new GmmException(GmmError.StateLayoutMismatch, $"ranges were registered in {vm} during the move");
        NumberMessage.WriteTo(_connection.Payload(), sender.Passes + 1);
        _connection.Send(MessageType.Stop);
        _passes.Add(sender.SendLivePass(final: true));

        _phase = MigrationPhase.Commit;
        Report(MigrationPhase.Commit);
        ImageCounts counts = sender.SentCounts();
        new CommitRequest(sender.Passes, 1, counts.NonZero, counts.Ballooned).WriteTo(_connection.Payload());
        _connection.Send(MessageType.Commit);
        CommitDone done = CommitDone.Read(_connection.Expect(MessageType.Committed).Payload);

        _phase = MigrationPhase.Resume;
        Report(MigrationPhase.Resume);
        _resumeSent = true;
        _connection.SendEmpty(MessageType.Resume);
        _connection.Expect(MessageType.Resumed);
        return (Stopwatch.GetElapsedTime(pausedAt), done);
    }

    /// <summary>
    /// Leaves the source as it was (or, after RESUME, paused and in doubt) and returns what to throw: a
    /// GuestMemory error gets the phase in its message; anything else (the caller's callbacks) as it is.
    /// </summary>
    private Exception Fail(Exception e)
    {
        var error = e as GmmException;
        bool targetDiscarded = error?.Error is GmmError.MigrationAborted or GmmError.MigrationRefused;
        if (_resumeSent && !targetDiscarded)
            return new GmmException(GmmError.MigrationInDoubt,
                $"{vm} may be running on the target: the connection failed after RESUME and before the target confirmed ({e.Message}); the source copy stays paused", e);
        _connection.TrySendAbort(error ?? new GmmException(GmmError.MigrationAborted, $"the source failed: {e.Message}"));
        if (_paused) resume();
        return error == null ? e : new GmmException(error.Error, $"moving {vm} failed during {Describe(_phase)} (the source keeps running): {error.Message}", error.InnerException ?? error);
    }

    private string Describe(MigrationPhase phase) => phase switch
    {
        MigrationPhase.Handshake => "the handshake",
        MigrationPhase.PreCopy => $"pre-copy pass {_passes.Count + 1}",
        MigrationPhase.StopAndCopy => "stop-and-copy",
        MigrationPhase.Commit => "the commit",
        _ => "the resume",
    };

    private void Report(MigrationPhase phase) =>
        progress?.Report(new MigrationProgress(phase, _passes.Count, _connection.Stream.BytesWritten, _passes.Count > 0 ? _passes[^1].PagesTaken : 0, Stopwatch.GetElapsedTime(_start)));
}
