using System.Buffers;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace GuestMemory.Qemu;

/// <summary>
/// A typed, asynchronous client of QEMU's machine protocol (QMP): one JSON object per line over a
/// Unix socket. Opening reads QEMU's greeting and leaves capability negotiation with
/// <c>qmp_capabilities</c>; then commands (<see cref="ExecuteAsync"/> and the typed ones in
/// <c>QmpClient.Commands.cs</c>) run concurrently, each matched to its reply by the <c>id</c> member
/// QMP echoes, and events arrive asynchronously.
/// </summary>
/// <remarks>
/// <para><b>Threads.</b> One reader task owns the socket's read side: it completes pending commands and
/// delivers events. <see cref="EventReceived"/> handlers run on that task (keep them short; a handler
/// that throws is ignored) and every event is also queued for <see cref="ReadEventsAsync"/> (one
/// consumer; the oldest are dropped beyond 1,024 unread). Writers are serialised by <c>_writeLock</c>;
/// <c>_pending</c> (ids to waiting commands) is a concurrent dictionary; the failure is kept by
/// <see cref="ChannelFailure"/> under its own lock.</para>
/// <para><b>Failures.</b> A QMP error reply is a <see cref="QmpCommandException"/> for that command
/// alone. A command that times out fails with <see cref="QemuError.Timeout"/> and the connection stays
/// usable (its late reply is recognised by its id and dropped). Anything that breaks the protocol (not
/// JSON, a line over 16 MiB, a reply to an id never sent) and the end of the connection (QEMU killed or
/// quit) close the client: every pending and every later call fails with
/// <see cref="QemuError.QmpProtocolError"/> or <see cref="QemuError.QmpConnectionLost"/> (or what
/// <see cref="CloseReason"/> says instead, such as <see cref="QemuError.GuestDied"/>).</para>
/// </remarks>
public sealed partial class QmpClient : IAsyncDisposable
{
    /// <summary>The longest line accepted from QEMU.</summary>
    public const int MaxLineBytes = 16 << 20;

    /// <summary>How long a command waits for its reply unless told otherwise.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    private readonly Stream _stream;
    private readonly LineReader _reader;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<long, PendingCommand> _pending = new();
    private readonly Channel<QmpEvent> _events = Channel.CreateBounded<QmpEvent>(new BoundedChannelOptions(1024) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
    private readonly CancellationTokenSource _stop = new();
    private readonly ChannelFailure _failures = new(QemuError.QmpConnectionLost);
    private long _nextId;
    private Task _readLoop = Task.CompletedTask;

    private QmpClient(Stream stream)
    {
        _stream = stream;
        _reader = new LineReader(stream, MaxLineBytes);
    }

    /// <summary>QEMU's version from its greeting.</summary>
    public Version QemuVersion { get; private set; } = new(0, 0);

    /// <summary>The capabilities QEMU offered in its greeting (such as <c>oob</c>); none is enabled.</summary>
    public IReadOnlyList<string> Capabilities { get; private set; } = [];

    /// <summary>
    /// Asked, on the reader task, why the connection ended when it ends without a protocol error; its
    /// answer (say, <see cref="QemuError.GuestDied"/> with QEMU's exit status) replaces the plain
    /// <see cref="QemuError.QmpConnectionLost"/>. Set it before the guest can end.
    /// </summary>
    public Func<QemuException?>? CloseReason { get => _failures.CloseReason; set => _failures.CloseReason = value; }

    /// <summary>Raised on the reader task for every event (see the type's note on threads).</summary>
    public event Action<QmpEvent>? EventReceived;

    /// <summary>Completes when the connection has ended; never faults.</summary>
    public Task Completion => _readLoop;

    /// <summary>True until the connection ends or fails.</summary>
    public bool IsConnected => !_failures.HasFailed;

    /// <summary>Connects to QEMU's QMP server socket and negotiates (<see cref="OpenAsync"/>).</summary>
    /// <exception cref="QemuException"><see cref="QemuError.QmpConnectionLost"/> when nothing listens there.</exception>
    public static async Task<QmpClient> ConnectAsync(string socketPath, TimeSpan timeout, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(socketPath);
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancel).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new QemuException(QemuError.QmpConnectionLost, $"cannot connect to QMP at {socketPath}: {e.Message}", e);
        }
        return await OpenAsync(new NetworkStream(socket, ownsSocket: true), timeout, cancel).ConfigureAwait(false);
    }

    /// <summary>
    /// Takes a connected stream (a socket QEMU connected to, or one end of a test's socket pair), reads
    /// QEMU's greeting, sends <c>qmp_capabilities</c> and starts reading. The client owns the stream.
    /// </summary>
    /// <exception cref="QemuException"><see cref="QemuError.QmpProtocolError"/> for a bad greeting;
    /// <see cref="QemuError.Timeout"/>; <see cref="QemuError.QmpConnectionLost"/>.</exception>
    public static async Task<QmpClient> OpenAsync(Stream stream, TimeSpan timeout, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var client = new QmpClient(stream);
        try
        {
            await client.ReadGreetingAsync(timeout, cancel).ConfigureAwait(false);
            client._readLoop = Task.Run(client.ReadLoopAsync, CancellationToken.None);
            await client.ExecuteAsync("qmp_capabilities", null, timeout, cancel).ConfigureAwait(false);
            return client;
        }
        catch
        {
            await client.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Runs <paramref name="command"/> with <paramref name="arguments"/> and returns the <c>return</c>
    /// member of its reply.
    /// </summary>
    /// <exception cref="QmpCommandException">QEMU answered with an error.</exception>
    /// <exception cref="QemuException"><see cref="QemuError.Timeout"/>, or the connection's failure (see the type's note).</exception>
    public async Task<JsonElement> ExecuteAsync(string command, JsonObject? arguments = null, TimeSpan? timeout = null, CancellationToken cancel = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(command);
        ThrowIfFailed();
        long id = Interlocked.Increment(ref _nextId);
        var reply = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = new PendingCommand(command, reply);
        try
        {
            await SendAsync(command, arguments, id, cancel).ConfigureAwait(false);
            ThrowIfFailed(); // the connection may have failed before the command was registered as pending
            TimeSpan limit = timeout ?? DefaultTimeout;
            try
            {
                return await reply.Task.WaitAsync(limit, cancel).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                throw new QemuException(QemuError.Timeout, $"QMP {command} got no reply within {limit.TotalSeconds:0.#} s");
            }
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }

    /// <summary>The events in arrival order, for one consumer at a time; ends when the connection ends.</summary>
    public IAsyncEnumerable<QmpEvent> ReadEventsAsync(CancellationToken cancel = default) => _events.Reader.ReadAllAsync(cancel);

    /// <summary>Waits for the next event named <paramref name="name"/> (such as <c>STOP</c> or <c>SHUTDOWN</c>).</summary>
    /// <exception cref="QemuException"><see cref="QemuError.Timeout"/>, or the connection's failure.</exception>
    public async Task<QmpEvent> WaitForEventAsync(string name, TimeSpan timeout, CancellationToken cancel = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        var seen = new TaskCompletionSource<QmpEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnEvent(QmpEvent e) { if (e.Name == name) seen.TrySetResult(e); }
        EventReceived += OnEvent;
        try
        {
            ThrowIfFailed();
            Task ended = _readLoop;
            Task first = await Task.WhenAny(seen.Task, ended).WaitAsync(timeout, cancel).ConfigureAwait(false);
            if (first == seen.Task) return await seen.Task.ConfigureAwait(false);
            ThrowIfFailed();
            throw new QemuException(QemuError.QmpConnectionLost, $"the QMP connection ended before a {name} event");
        }
        catch (TimeoutException)
        {
            throw new QemuException(QemuError.Timeout, $"no QMP {name} event within {timeout.TotalSeconds:0.#} s");
        }
        finally
        {
            EventReceived -= OnEvent;
        }
    }

    /// <summary>
    /// Ends the connection with <paramref name="reason"/>: every pending and later call fails with it.
    /// For owners that learn first that QEMU is gone. Does nothing when the client has failed already.
    /// </summary>
    public void Fail(QemuException reason)
    {
        ArgumentNullException.ThrowIfNull(reason);
        if (!_failures.TrySet(reason)) return;
        foreach (PendingCommand pending in _pending.Values) pending.Reply.TrySetException(reason.Recreate());
        _events.Writer.TryComplete();
        _stop.Cancel();
        _stream.Dispose();
    }

    /// <summary>Closes the connection (pending calls fail with <see cref="QemuError.QmpConnectionLost"/>) and waits for the reader.</summary>
    public async ValueTask DisposeAsync()
    {
        Fail(new QemuException(QemuError.QmpConnectionLost, "the QMP client was disposed"));
        await _readLoop.ConfigureAwait(false);
        _stop.Dispose();
        _writeLock.Dispose();
    }

    /// <summary>A command waiting for its reply.</summary>
    private sealed record PendingCommand(string Name, TaskCompletionSource<JsonElement> Reply);

    private void ThrowIfFailed() => _failures.ThrowIfFailed();


    private async Task SendAsync(string command, JsonObject? arguments, long id, CancellationToken cancel)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("execute", command);
            if (arguments != null)
            {
                writer.WritePropertyName("arguments");
                arguments.WriteTo(writer);
            }
            writer.WriteNumber("id", id);
            writer.WriteEndObject();
        }
        buffer.Write("\n"u8);
        await _writeLock.WaitAsync(cancel).ConfigureAwait(false);
        try
        {
            await _stream.WriteAsync(buffer.WrittenMemory, cancel).ConfigureAwait(false);
            await _stream.FlushAsync(cancel).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or SocketException)
        {
            ThrowIfFailed();
            throw new QemuException(QemuError.QmpConnectionLost, $"sending QMP {command} failed: {e.Message}", e);
        }
        finally
        {
            _writeLock.Release();
        }
    }
}
