using System.Diagnostics;
using System.Net.Sockets;

namespace GuestMemory.Migration;

/// <summary>
/// One end of a session's connection: frames out and in over a metered stream, a scratch buffer for
/// control payloads, and the rules every wait for the peer follows (an ABORT from the peer ends the
/// session with its error; any frame the protocol does not expect here is a corrupt stream).
/// </summary>
/// <remarks>
/// Owned by one session thread. Disposing it closes the connection gracefully: a TCP connection is shut
/// down for sending, then read until the peer closes too (for at most <see cref="Linger"/>), so the last
/// frame (an ABORT, a RESUMED) is not lost to a reset caused by unread data.
/// </remarks>
internal sealed class MigrationConnection : IDisposable
{
    private readonly Stream _transport;
    private readonly WireWriter _scratch = new();

    private readonly int _timeout;

    public MigrationConnection(Stream transport, TimeSpan timeout)
    {
        _transport = transport;
        _timeout = (int)timeout.TotalMilliseconds;
        if (transport.CanTimeout)
        {
            transport.ReadTimeout = _timeout;
            transport.WriteTimeout = _timeout;
        }
        Stream = new MeteredStream(transport, timeout);
        Reader = new FrameReader(Stream);
        Writer = new FrameWriter(Stream);
    }

    public MeteredStream Stream { get; }
    public FrameReader Reader { get; }
    public FrameWriter Writer { get; }

    /// <summary>
    /// Whether a read waits at most the session's timeout (<paramref name="bounded"/>) or for ever: a
    /// standby between two checkpoints waits for the next one as long as the source takes.
    /// </summary>
    public void BoundReads(bool bounded)
    {
        if (bounded == _bounded || !_transport.CanTimeout) return;
        _transport.ReadTimeout = bounded ? _timeout : Timeout.Infinite;
        _bounded = bounded;
    }

    private bool _bounded = true;

    /// <summary>An empty payload builder for the next control frame.</summary>
    public WireWriter Payload() => _scratch.Clear();

    /// <summary>Sends the payload built in <see cref="Payload"/>.</summary>
    public void Send(MessageType type) => Writer.Write(type, _scratch.Written);

    /// <summary>Sends a frame with an empty payload.</summary>
    public void SendEmpty(MessageType type) => Writer.Write(type);

    /// <summary>
    /// Reads the next frame, which must be of type <paramref name="expected"/> (or <paramref name="alternative"/>).
    /// An ABORT becomes <see cref="GmmError.MigrationAborted"/> with the peer's error inside.
    /// </summary>
    public Frame Expect(MessageType expected, MessageType? alternative = null)
    {
        Frame frame = Reader.Read();
        if (frame.Type == expected || frame.Type == alternative) return frame;
        throw Unexpected(frame, expected.ToString());
    }

    /// <summary>True once the peer sent ABORT: it has given up already and needs no ABORT back.</summary>
    public bool PeerAborted { get; private set; }

    /// <summary>The error for a frame the protocol does not allow here (an ABORT gives the peer's reason).</summary>
    public GmmException Unexpected(in Frame frame, string expected)
    {
        if (frame.Type != MessageType.Abort) return MigrationErrors.Corrupt($"a {frame.Type} frame came where {expected} was due");
        PeerAborted = true;
        GmmException remote = Failure.Read(frame.Payload, "ABORT").ToException();
        return new GmmException(GmmError.MigrationAborted, $"the peer aborted: {remote.Message}", remote);
    }

    /// <summary>Tells the peer why this side gives up, unless it gave up first or the connection is gone; never throws.</summary>
    public void TrySendAbort(GmmException reason)
    {
        if (PeerAborted || reason.Error == GmmError.MigrationConnectionLost) return;
        try
        {
            Failure.Of(reason).WriteTo(Payload());
            Send(MessageType.Abort);
        }
        catch (GmmException)
        {
            // The connection is gone too: the peer sees that instead.
        }
    }

    /// <summary>The longest a graceful close waits for the peer to close its side.</summary>
    private static readonly TimeSpan Linger = TimeSpan.FromSeconds(2);

    private int _closed;

    /// <summary>Closes gracefully (see the class remarks). Safe to call more than once.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0) return;
        if (_transport is NetworkStream network) Drain(network.Socket);
        _transport.Dispose();
    }

    /// <summary>Closes at once, from any thread: a read or write in progress on the session's thread fails with a lost connection.</summary>
    public void Abort()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0) return;
        _transport.Dispose();
    }

    private static void Drain(Socket socket)
    {
        try
        {
            socket.Shutdown(SocketShutdown.Send);
            socket.ReceiveTimeout = (int)Linger.TotalMilliseconds;
            byte[] sink = new byte[16 << 10];
            long start = Stopwatch.GetTimestamp();
            while (socket.Receive(sink) > 0 && Stopwatch.GetElapsedTime(start) < Linger) { }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // reset or already closed: nothing left to drain
        }
    }
}
