using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace GuestMemory.Qemu;

/// <summary>What became of one connection to a <see cref="QemuStoreListener"/>: the VM stored, or the typed error (nothing kept).</summary>
/// <param name="Name">The name the VM was (to be) stored under.</param>
/// <param name="Peer">Who connected.</param>
/// <param name="Stored">The stored VM's figures, or null when it failed.</param>
/// <param name="Error">Why it failed, or null.</param>
/// <param name="Elapsed">From the connection to the VM being stored (or the failure).</param>
public sealed record StoreArrival(string Name, string Peer, StoredVmInfo? Stored, Exception? Error, TimeSpan Elapsed)
{
    /// <summary>A QEMU stream this host relayed on to another store (<see cref="QemuStoreListenerOptions.RelayTo"/>), or null.</summary>
    public RelayReport? Relayed { get; init; }

    /// <summary>A relayed VM this host resumed into its QEMU (<see cref="QemuStoreListenerOptions.ResumeTo"/>, <see cref="QemuStoreListenerOptions.ResumeGuest"/>), or null.</summary>
    public ResumeReport? Resumed { get; init; }

    /// <summary>The guest this host started for a relayed VM (<see cref="QemuStoreListenerOptions.ResumeGuest"/>), or null. Whoever takes the arrival owns it; the listener ends those of arrivals nobody took.</summary>
    public QemuGuest? Guest { get; init; }
}

/// <summary>What a <see cref="QemuStoreListener"/> does with arrivals beyond keeping them.</summary>
public sealed record QemuStoreListenerOptions
{
    /// <summary>
    /// Relay every QEMU stream live to the store listening there (<see cref="QemuVmStore.RelayAsync"/>) instead of
    /// keeping it: the first hop of QEMU → GuestMemory host A → GuestMemory host B → QEMU.
    /// </summary>
    public (string Host, int Port)? RelayTo { get; init; }

    /// <summary>Resume every VM relayed here into the QEMU waiting there with <c>-incoming tcp:</c> as soon as it has arrived (it is kept only when that fails).</summary>
    public (string Host, int Port)? ResumeTo { get; init; }

    /// <summary>
    /// Resume every VM relayed here into a guest this host starts, with the options this gives for the VM's name
    /// and main RAM size: its QEMU starts as the relay begins, so it is up when the VM has arrived, and the VM's
    /// main RAM is written straight into the guest's memfd (<see cref="QemuVmStore.ResumeGuestAsync"/>). The VM
    /// is kept only when that fails; the guest comes with the arrival (<see cref="StoreArrival.Guest"/>).
    /// </summary>
    public Func<string, long, GuestOptions>? ResumeGuest { get; init; }

    /// <summary>How long a resume waits for the target QEMU to be listening and to confirm.</summary>
    public TimeSpan ResumeTimeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Checks the ports.</summary>
    /// <exception cref="QemuException"><see cref="QemuError.InvalidArgument"/>.</exception>
    public void Validate()
    {
        foreach ((string Host, int Port)? to in new[] { RelayTo, ResumeTo })
            if (to is (string host, int port) && (string.IsNullOrWhiteSpace(host) || port is < 1 or > 65535))
                throw new QemuException(QemuError.InvalidArgument, $"a host and a port of 1-65535, not {host}:{port}");
        if (ResumeTimeout <= TimeSpan.Zero) throw new QemuException(QemuError.InvalidArgument, "the resume timeout must be positive");
        if (ResumeTo != null && ResumeGuest != null) throw new QemuException(QemuError.InvalidArgument, "relayed VMs resume into a waiting QEMU or into guests of this host's, not both");
    }
}

/// <summary>
/// Listens on a TCP port for VMs migrating into a <see cref="QemuVmStore"/>: a QEMU told
/// <c>migrate -d tcp:HOST:PORT</c>, or another GuestMemory store moving one of its VMs here
/// (<see cref="QemuVmStore.MoveAsync"/>). Each connection is served on a task of its own; what became of it
/// is handed out by <see cref="NextAsync"/> (and stays listed by the store when it worked). A connection that
/// sends nothing for <see cref="IdleTimeout"/> is dropped as a truncated stream.
/// </summary>
/// <remarks>Threads: the accept loop and one task per connection; the outcomes go through a channel.
/// The store does its own locking. <see cref="DisposeAsync"/> stops accepting, closes the open
/// connections (their VMs are not kept), waits for their tasks and ends the guests of arrivals nobody took.</remarks>
public sealed class QemuStoreListener : IAsyncDisposable
{
    /// <summary>The first 4 bytes of a move from another store.</summary>
    internal static readonly byte[] MoveMagic = "GQMV"u8.ToArray();

    private readonly QemuVmStore _store;
    private readonly TcpListener _listener;
    private readonly Func<string> _names;
    private readonly QemuStoreListenerOptions _options;
    private readonly Channel<StoreArrival> _arrivals = Channel.CreateUnbounded<StoreArrival>();
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _sessions = [];
    private readonly Lock _sessionsLock = new();
    private readonly Task _acceptLoop;

    private QemuStoreListener(QemuVmStore store, TcpListener listener, Func<string> names, QemuStoreListenerOptions options)
    {
        _options = options;
        _store = store;
        _listener = listener;
        _names = names;
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>How long a connection may send nothing before it is dropped (a QEMU source that hangs).</summary>
    public static TimeSpan IdleTimeout { get; } = TimeSpan.FromSeconds(60);

    /// <summary>The port listened on (the one given, or the one the system chose for 0).</summary>
    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Starts listening on <paramref name="address"/>:<paramref name="port"/> (0: any free port). Arriving VMs are named by <paramref name="names"/>, or vm-1, vm-2, ...</summary>
    /// <exception cref="QemuException"><see cref="QemuError.InvalidArgument"/> for a port out of range; <see cref="QemuError.HostResourceFailed"/> when the port cannot be had.</exception>
    public static QemuStoreListener Start(QemuVmStore store, IPAddress address, int port, Func<string>? names = null, QemuStoreListenerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        options ??= new QemuStoreListenerOptions();
        options.Validate();
        ArgumentNullException.ThrowIfNull(address);
        if (port is < 0 or > 65535) throw new QemuException(QemuError.InvalidArgument, $"a port is 0-65535, not {port}");
        var listener = new TcpListener(address, port);
        try { listener.Start(); }
        catch (SocketException e)
        {
            throw new QemuException(QemuError.HostResourceFailed, $"cannot listen on {address}:{port}: {e.Message}", e);
        }
        return new QemuStoreListener(store, listener, names ?? (() => store.NextName()), options);
    }

    /// <summary>The next connection's outcome.</summary>
    /// <exception cref="QemuException"><see cref="QemuError.Timeout"/> when none comes within <paramref name="timeout"/>.</exception>
    public async Task<StoreArrival> NextAsync(TimeSpan timeout, CancellationToken cancel = default)
    {
        try
        {
            return await _arrivals.Reader.ReadAsync(cancel).AsTask().WaitAsync(timeout, cancel).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new QemuException(QemuError.Timeout, $"no VM arrived within {timeout.TotalSeconds:0} s");
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await _listener.AcceptTcpClientAsync(_stop.Token).ConfigureAwait(false); }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException) { return; }
            Task session = Task.Run(() => Serve(client));
            lock (_sessionsLock)
            {
                _sessions.RemoveAll(t => t.IsCompleted);
                _sessions.Add(session);
            }
        }
    }

    private void Serve(TcpClient client)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        // The socket itself, not the TcpClient: a stop disposes the client from another thread at any moment
        // (at once when it came first), after which the client has no socket (a NullReferenceException), while
        // the disposed socket throws ObjectDisposedException, which ends this connection like any break.
        Socket socket = client.Client;
        string peer = socket.RemoteEndPoint?.ToString() ?? "?";
        string name = "";
        using (client)
        using (_stop.Token.Register(client.Dispose))
        {
            try
            {
                socket.NoDelay = true;
                socket.ReceiveTimeout = (int)IdleTimeout.TotalMilliseconds;
                var stream = new NetworkStream(socket, ownsSocket: false);
                byte[] magic = new byte[4];
                stream.ReadExactly(magic);
                if (magic.AsSpan().SequenceEqual(MoveMagic))
                {
                    StoredVmInfo moved = _store.ReceiveMove(stream);
                    name = moved.Name;
                    _arrivals.Writer.TryWrite(new StoreArrival(name, peer, moved, null, clock.Elapsed));
                    return;
                }
                if (magic.AsSpan().SequenceEqual(QemuVmStore.RelayMagic))
                {
                    (StoredVmInfo? kept, ResumeReport? resumed, QemuGuest? guest) = _store.ReceiveRelay(stream, _options.ResumeTo, _options.ResumeTimeout, _options.ResumeGuest);
                    name = kept?.Name ?? resumed!.Name;
                    _arrivals.Writer.TryWrite(new StoreArrival(name, peer, kept, null, clock.Elapsed) { Resumed = resumed, Guest = guest });
                    return;
                }
                name = _names();
                if (_options.RelayTo is (string host, int port))
                {
                    RelayReport relayed = _store.RelayAsync(new PrefixedStream(magic, stream), name, host, port, _stop.Token).GetAwaiter().GetResult();
                    _arrivals.Writer.TryWrite(new StoreArrival(name, peer, null, null, clock.Elapsed) { Relayed = relayed });
                    return;
                }
                StoredVmInfo info = _store.Receive(new PrefixedStream(magic, stream), name);
                _arrivals.Writer.TryWrite(new StoreArrival(name, peer, info, null, clock.Elapsed));
            }
            catch (Exception e) when (e is QemuException or GmmException or IOException or SocketException or ObjectDisposedException or OperationCanceledException)
            {
                Exception error = e is IOException or SocketException or ObjectDisposedException or OperationCanceledException
                    ? new QemuException(QemuError.StreamTruncated, $"the connection from {peer} broke: {e.Message}", e) : e;
                _arrivals.Writer.TryWrite(new StoreArrival(name, peer, null, error, clock.Elapsed));
            }
        }
    }

    /// <summary>Stops listening, drops open connections (nothing of their VMs is kept) and waits for their tasks.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested) return;
        _stop.Cancel();
        _listener.Stop();
        await _acceptLoop.ConfigureAwait(false);
        Task[] sessions;
        lock (_sessionsLock) sessions = [.. _sessions];
        await Task.WhenAll(sessions).ConfigureAwait(false);
        _arrivals.Writer.TryComplete();
        while (_arrivals.Reader.TryRead(out StoreArrival? untaken))
            if (untaken.Guest != null) await untaken.Guest.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }
}
