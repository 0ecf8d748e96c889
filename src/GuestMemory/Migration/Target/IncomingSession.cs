using System.Diagnostics;
using System.Runtime.InteropServices;
using GuestMemory.Phys;
using GuestMemory.State;

namespace GuestMemory.Migration.Target;

/// <summary>
/// The target of a session (docs/migration-protocol.md): checks HELLO and creates the VM from the
/// source's options (or refuses up front with the Gmm's typed error), then receives images: it answers
/// hash queries, stages page frames, checks every pass, and commits an image in one step at COMMIT. A
/// move ends when the source says RESUME; a mirror commits checkpoint after checkpoint until BYE.
/// </summary>
/// <remarks>
/// <para><b>Failure.</b> Any error (a corrupt or truncated stream, a dropped connection, the source's
/// ABORT, a host that runs out of pages) discards the image being staged. A move's VM, and a mirror's
/// VM without a complete checkpoint, is destroyed with it, so the host has nothing of the session
/// (<see cref="GlobalMemoryManager.Verify"/> is clean); a mirror's VM keeps its last complete checkpoint.
/// The source is told why with ABORT whenever the connection still carries it.</para>
/// <para>Only the session's thread touches it.</para>
/// </remarks>
internal sealed class IncomingSession : IDisposable
{
    private readonly GlobalMemoryManager _gmm;
    private readonly IncomingOptions _options;
    private readonly MigrationConnection _connection;
    private readonly List<ContentKey> _keys = [];
    private readonly bool[] _held = new bool[MigrationProtocol.MaxQueryKeys];
    private MemoryRange[] _ranges = [];
    private ContentFinder? _finder;
    private IncomingImage? _image;
    private IncomingImage? _committed; // committed, still holding its table until the source has been answered
    private SessionPhase _phase = SessionPhase.Open;
    private long _withData, _byReference;
    private TimeSpan _lastCommit;
    private uint _lastPasses;

    public IncomingSession(GlobalMemoryManager gmm, Stream transport, IncomingOptions options)
    {
        _gmm = gmm;
        _options = options;
        _connection = new MigrationConnection(transport, options.Timeout);
    }

    /// <summary>The VM being received (null before the handshake created it).</summary>
    public VirtualMachine? Vm { get; private set; }

    /// <summary>Images committed so far.</summary>
    public int Committed { get; private set; }

    /// <summary>Reads HELLO and creates the VM, or refuses.</summary>
    /// <exception cref="GmmException"><see cref="GmmError.MigrationRefused"/> with the reason inside (sent to the source too);
    /// the connection's errors.</exception>
    public void Accept(MigrationMode mode)
    {
        Hello hello;
        try
        {
            hello = Hello.Read(_connection.Expect(MessageType.Hello).Payload);
            if (hello.Mode != mode) throw new GmmException(GmmError.InvalidArgument, $"this target takes a {mode}, not a {hello.Mode}");
            Vm = _gmm.CreateVm(hello.Options);
            _options.RegisterRanges?.Invoke(Vm);
            _ranges = Vm.Memory.RangeSnapshot();
            StateLayout layout = StateLayout.Of(_ranges);
            if (!hello.Layout.SameAs(layout)) throw StateErrors.LayoutMismatch(hello.Layout, layout);
            StagingPool.CheckRoom(Vm, hello.NonZeroPages, "receiving");
        }
        catch (GmmException e) when (e.Error != GmmError.MigrationConnectionLost)
        {
            new Failure(e.Error, e.Message).WriteTo(_connection.Payload());
            TrySend(MessageType.Refuse, withPayload: true);
            DestroyVm();
            throw new GmmException(GmmError.MigrationRefused, $"refused the incoming VM: {e.Message}", e);
        }
        if (Vm.Options.PageSharing) _finder = new ContentFinder(_gmm, Vm, SharedContentIndex.Build(_gmm, Vm.Options.SharingDomain, includePrivate: true, exclude: Vm));
        new Acceptance(Vm.Options.PageSharing).WriteTo(_connection.Payload());
        _connection.Send(MessageType.Accept);
    }

    /// <summary>
    /// Receives until the session's end: a move returns once it resumed the VM, a mirror when the source
    /// says BYE. <paramref name="committed"/> is called after each image committed (a mirror's checkpoint).
    /// </summary>
    public void Run(MigrationMode mode, Action<int>? committed = null)
    {
        while (_phase != SessionPhase.Ended)
        {
            _connection.BoundReads(mode == MigrationMode.Move || _phase != SessionPhase.Open); // a standby between checkpoints waits as long as it takes
            Frame frame = _connection.Reader.Read();
            if (frame.Type == MessageType.Abort) throw _connection.Unexpected(frame, "a frame of the image");
            PassEnd end = frame.Type == MessageType.PassEnd ? PassEnd.Read(frame.Payload) : default;
            // Checked before the frame is acted on: a frame out of order changes nothing.
            SessionPhase next = SessionPhases.Next(_phase, frame.Type, mode, end.Final);
            switch (frame.Type)
            {
                case MessageType.HashQuery: AnswerQuery(frame.Payload); break;
                case MessageType.Pages: Image().ApplyPages(frame.Payload, frame.Sequence); break;
                case MessageType.PassEnd: EndPass(end); break;
                case MessageType.Stop: CheckStop(NumberMessage.Read(frame.Payload, "STOP")); break;
                case MessageType.Commit:
                    CommitImage(CommitRequest.Read(frame.Payload));
                    if (mode == MigrationMode.Mirror) ReleaseCommitted(); // a mirror's source runs already; a move's waits until RESUMED
                    committed?.Invoke(Committed);
                    break;
                case MessageType.Resume:
                    if (!frame.Payload.IsEmpty) throw MigrationErrors.Corrupt($"RESUME carries {frame.Payload.Length} bytes");
                    ResumeVm();
                    break;
                case MessageType.Bye:
                    if (!frame.Payload.IsEmpty) throw MigrationErrors.Corrupt($"BYE carries {frame.Payload.Length} bytes");
                    break;
            }
            _phase = next;
        }
    }

    /// <summary>STOP names the final pass: the one after the pass that just ended.</summary>
    private void CheckStop(uint finalPass)
    {
        IncomingImage image = Image();
        if (!image.PassEnded || finalPass != image.Passes + 1)
            throw MigrationErrors.Corrupt($"STOP announces pass {finalPass} while pass {image.Passes} is {(image.PassEnded ? "ended" : "open")}");
    }

    /// <summary>
    /// The typed error a failure ends the session with: a record that broke the saved-state rules is a
    /// corrupt migration stream here; anything that is not a GuestMemory error (a callback's) aborts.
    /// </summary>
    public static GmmException Reason(Exception e) => e switch
    {
        GmmException g when MigrationErrors.IsStreamError(g.Error) && g.Error != GmmError.MigrationStreamCorrupt => MigrationErrors.Corrupt("a page record", g),
        GmmException g => g,
        _ => new GmmException(GmmError.MigrationAborted, $"the target failed: {e.Message}"),
    };

    /// <summary>
    /// After a failure: discards the image being staged; destroys the VM unless <paramref name="keepCommitted"/>
    /// and it holds a committed image; tells the source why when the connection still carries it.
    /// </summary>
    public void Abandon(GmmException reason, bool keepCommitted)
    {
        _connection.TrySendAbort(reason);
        _image?.Discard();
        _image = null;
        ReleaseCommitted();
        if (!(keepCommitted && Committed > 0)) DestroyVm();
    }

    public IncomingReport Report() => new()
    {
        VmName = Vm?.Name ?? "", BytesReceived = _connection.Stream.BytesRead, BytesSent = _connection.Stream.BytesWritten,
        ImagesCommitted = Committed, Passes = (int)_lastPasses, PagesWithData = _withData, PagesByReference = _byReference,
        ContentsFound = _finder?.Found ?? 0, PrivatePagesShared = _finder?.Merged ?? 0, LastCommit = _lastCommit,
    };

    /// <summary>Closes the connection gracefully.</summary>
    public void Dispose() => _connection.Dispose();

    /// <summary>Closes the connection at once, from any thread (the session's thread then fails with a lost connection).</summary>
    public void Close() => _connection.Abort();

    private IncomingImage Image() => _image ??= new IncomingImage(Vm!, _ranges, incremental: Committed > 0);

    /// <summary>
    /// Checks a pass. After a pre-copy pass the pages that merges took from other VMs are given back (once
    /// no reader can hold them) and their memory to the host, so that work is not left for the commit,
    /// inside the guest's downtime.
    /// </summary>
    private void EndPass(PassEnd end)
    {
        Image().EndPass(end);
        if (end.Final || _finder == null) return;
        _gmm.ReclaimRetiredPages();
        _gmm.Pages.SettleFreedPages();
    }

    private void AnswerQuery(ReadOnlySpan<byte> payload)
    {
        if (_finder == null) throw MigrationErrors.Corrupt("a hash query to a target that takes no content references");
        uint batch = HashQuery.ReadQuery(payload, _keys);
        Span<bool> held = _held.AsSpan(0, _keys.Count);
        _finder.Answer(_keys, Image().Table, held);
        HashQuery.WriteAnswer(_connection.Payload(), batch, held);
        _connection.Send(MessageType.HashAnswer);
    }

    private void CommitImage(CommitRequest request)
    {
        IncomingImage image = _image ?? throw MigrationErrors.Corrupt("COMMIT before any page");
        if (request.Checkpoint != Committed + 1) throw MigrationErrors.Corrupt($"COMMIT of image {request.Checkpoint} after {Committed} images");
        long start = Stopwatch.GetTimestamp();
        image.Commit(request);
        _lastCommit = Stopwatch.GetElapsedTime(start);
        _image = null;
        _withData += image.PagesWithData;
        _byReference += image.PagesByReference;
        _lastPasses = image.Passes;
        Committed++;
        _committed = image;
        new CommitDone(request.Checkpoint, (long)_lastCommit.TotalMicroseconds).WriteTo(_connection.Payload());
        _connection.Send(MessageType.Committed);
    }

    /// <summary>Gives back what the last committed image still held (its content table, its reservation raise).</summary>
    private void ReleaseCommitted()
    {
        _committed?.ReleaseHeld();
        _committed = null;
    }

    /// <summary>The source decided: the VM runs here. A confirmation that cannot be sent does not undo that.</summary>
    private void ResumeVm()
    {
        _options.Resume?.Invoke(Vm!);
        TrySend(MessageType.Resumed, withPayload: false);
        ReleaseCommitted();
    }

    private void TrySend(MessageType type, bool withPayload)
    {
        try
        {
            if (withPayload) _connection.Send(type);
            else _connection.SendEmpty(type);
        }
        catch (GmmException e) when (e.Error == GmmError.MigrationConnectionLost)
        {
            // The source sees the connection fail instead.
        }
    }

    private void DestroyVm()
    {
        if (Vm != null) _gmm.DestroyVm(Vm);
    }
}
