using System.Diagnostics;
using GuestMemory.Migration.Source;
using GuestMemory.Phys;
using GuestMemory.State;

namespace GuestMemory.Migration;

/// <summary>
/// Continuous mirroring of a running VM to a standby host (docs/migration-protocol.md, "Mirroring"):
/// checkpoint after checkpoint, each a consistent image of the VM at one instant, sent as the pages
/// dirtied since the checkpoint before. The standby applies a checkpoint only once it is complete, so it
/// always holds the last complete one and can take over from it.
/// </summary>
/// <remarks>
/// <para><b>A checkpoint.</b> The first is a whole image: pre-copy passes while the guest runs (as a move
/// does), until the convergence vote says pause. Every checkpoint then ends the same way: the caller's
/// pause, the dirty pages armed and copied into memory, the caller's resume; so the guest stops only
/// for a memory copy of what it dirtied. The copies are sent after the guest resumed, and COMMIT waits
/// for the standby's acknowledgement.</para>
/// <para><b>Failure.</b> Any error ends the mirroring: the guest is resumed if it was paused, the VM's
/// dirty tracking given back, the connection closed; the VM keeps running as it was, and the standby keeps
/// its last complete checkpoint. One thread drives a session at a time.</para>
/// </remarks>
public sealed class MirrorSource : IDisposable
{
    private readonly VirtualMachine _vm;
    private readonly Action _pause, _resume;
    private readonly MoveOptions _options;
    private readonly IProgress<MigrationProgress>? _progress;
    private readonly MigrationConnection _connection;
    private readonly MemoryRange[] _ranges;
    private readonly ImageSender _sender;
    private readonly long _start = Stopwatch.GetTimestamp();
    private bool _ended;

    internal MirrorSource(VirtualMachine vm, Stream transport, Action pause, Action resume, MoveOptions options, IProgress<MigrationProgress>? progress)
    {
        _vm = vm;
        _pause = pause;
        _resume = resume;
        _options = options;
        _progress = progress;
        _connection = new MigrationConnection(transport, options.Timeout);
        try
        {
            _ranges = vm.Memory.RangeSnapshot();
            Acceptance accepted = SourceHandshake.Run(_connection, vm, _ranges, MigrationMode.Mirror);
            _sender = new ImageSender(vm, _ranges, _connection, accepted.ContentReferences && vm.Options.PageSharing);
        }
        catch
        {
            _connection.Dispose();
            throw;
        }
    }

    /// <summary>Checkpoints the standby acknowledged.</summary>
    public int Checkpoints { get; private set; }

    /// <summary>
    /// Takes one checkpoint and returns once the standby acknowledged it. The guest is paused once, for
    /// the copy of the pages it dirtied since the last checkpoint.
    /// </summary>
    /// <exception cref="GmmException">The mirroring ended (see the class remarks): <see cref="GmmError.MigrationConnectionLost"/>,
    /// <see cref="GmmError.MigrationAborted"/>, <see cref="GmmError.MigrationStreamCorrupt"/>, <see cref="GmmError.StateLayoutMismatch"/>.</exception>
    /// <exception cref="InvalidOperationException">The mirroring has ended.</exception>
    public CheckpointReport Checkpoint()
    {
        if (_ended) throw new InvalidOperationException("the mirroring has ended");
        bool paused = false;
        try
        {
            long start = Stopwatch.GetTimestamp(), bytes = _connection.Stream.BytesWritten;
            var passes = new List<PassReport>();
            _sender.BeginImage();
            if (Checkpoints == 0) PreCopy(passes);
            long pausedAt = Stopwatch.GetTimestamp();
            _pause();
            paused = true;
            if (!ReferenceEquals(_vm.Memory.RangeSnapshot(), _ranges))
                throw new GmmException(GmmError.StateLayoutMismatch, $"ranges were registered in {_vm} during mirroring");
            BufferedPass final = _sender.ReadPass();
            paused = false;
            _resume();
            TimeSpan pause = Stopwatch.GetElapsedTime(pausedAt);
            passes.Add(_sender.SendBuffered(final, final: true));
            Commit(Checkpoints + 1);
            Checkpoints++;
            Report(MigrationPhase.Completed, passes);
            return new CheckpointReport
            {
                Number = Checkpoints, Pause = pause, Duration = Stopwatch.GetElapsedTime(start), Bytes = _connection.Stream.BytesWritten - bytes, Passes = passes,
            };
        }
        catch (Exception e)
        {
            End(e as GmmException ?? new GmmException(GmmError.MigrationAborted, $"the source failed: {e.Message}"));
            if (paused) _resume();
            throw;
        }
    }

    /// <summary>
    /// Takes a checkpoint every <paramref name="interval"/> (from the end of one to the start of the next)
    /// until <paramref name="cancel"/> is signalled; then ends the mirroring gracefully.
    /// </summary>
    public void Run(TimeSpan interval, CancellationToken cancel)
    {
        while (!cancel.IsCancellationRequested)
        {
            Checkpoint();
            cancel.WaitHandle.WaitOne(interval);
        }
        Stop();
    }

    /// <summary>Ends the mirroring gracefully (BYE): the standby keeps the last checkpoint.</summary>
    public void Stop()
    {
        if (_ended) return;
        try
        {
            _connection.SendEmpty(MessageType.Bye);
        }
        catch (GmmException)
        {
            // the standby is gone already: it keeps what it had either way
        }
        End(null);
    }

    /// <summary>Same as <see cref="Stop"/>.</summary>
    public void Dispose() => Stop();

    private void PreCopy(List<PassReport> passes)
    {
        var vote = new ConvergenceVote(_options);
        while (true)
        {
            PassReport pass = _sender.SendLivePass(final: false);
            passes.Add(pass);
            vote.PassDone(pass);
            Report(MigrationPhase.PreCopy, passes);
            if (vote.Decide(_sender.CountPending(), passes.Count).Pause) return;
        }
    }

    private void Commit(int checkpoint)
    {
        ImageCounts counts = _sender.SentCounts();
        new CommitRequest(_sender.Passes, (uint)checkpoint, counts.NonZero, counts.Ballooned).WriteTo(_connection.Payload());
        _connection.Send(MessageType.Commit);
        CommitDone done = CommitDone.Read(_connection.Expect(MessageType.Committed).Payload);
        if (done.Checkpoint != checkpoint) throw MigrationErrors.Corrupt($"the standby acknowledged checkpoint {done.Checkpoint} for {checkpoint}");
    }

    private void End(GmmException? reason)
    {
        _ended = true;
        if (reason != null) _connection.TrySendAbort(reason);
        _sender.Dispose();
        _connection.Dispose();
    }

    private void Report(MigrationPhase phase, List<PassReport> passes) =>
        _progress?.Report(new MigrationProgress(phase, passes.Count, _connection.Stream.BytesWritten, passes.Count > 0 ? passes[^1].PagesTaken : 0, Stopwatch.GetElapsedTime(_start)));
}

/// <summary>What one mirror checkpoint took.</summary>
public sealed record CheckpointReport
{
    /// <summary>The checkpoint's number, from 1.</summary>
    public int Number { get; init; }
    /// <summary>How long the guest was paused (arming and copying the pages it dirtied).</summary>
    public TimeSpan Pause { get; init; }
    /// <summary>From the start of the checkpoint to the standby's acknowledgement.</summary>
    public TimeSpan Duration { get; init; }
    /// <summary>Bytes sent for it.</summary>
    public long Bytes { get; init; }
    /// <summary>Its passes (pre-copy passes for the first checkpoint; then the one taken during the pause).</summary>
    public IReadOnlyList<PassReport> Passes { get; init; } = [];
}
