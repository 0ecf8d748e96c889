namespace GuestMemory.Host;

/// <summary>
/// A named background thread that runs a body again and again: at once when the body says there is
/// more to do, else after <c>interval</c> or as soon as someone calls <see cref="Wake"/>. Every worker
/// of the library runs on one: page fusion and the compactor (at idle priority) and the balloon
/// controller (its period); simulated guests, in a package of their own, keep a thread of their own.
/// The body gets the stop token, so long work can end early.
/// </summary>
/// <remarks>
/// <c>_lock</c> guards the thread and its stop token. An exception escaping the body ends the thread
/// and goes to <c>onFault</c>: a background loop must not kill the process, and its owner decides
/// what a fault means.
/// </remarks>
internal sealed class BackgroundLoop(string name, Func<CancellationToken, bool> body, TimeSpan interval, Action<Exception> onFault, bool idlePriority = false) : IDisposable
{
    private readonly Lock _lock = new();
    private readonly AutoResetEvent _wake = new(false);
    private Thread? _thread;
    private CancellationTokenSource? _stop;
    private bool _disposed;

    /// <summary>True while the thread runs.</summary>
    public bool IsRunning { get { lock (_lock) return _thread is { IsAlive: true }; } }

    /// <summary>Starts the thread.</summary>
    /// <exception cref="InvalidOperationException">It is already running.</exception>
    public void Start()
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_thread is { IsAlive: true }) throw new InvalidOperationException($"{name} is already running");
            _stop?.Dispose();
            _stop = new CancellationTokenSource();
            CancellationToken token = _stop.Token;
            _thread = new Thread(() => Run(token)) { IsBackground = true, Name = name };
            _thread.Start();
        }
    }

    /// <summary>Stops the thread and waits until its current pass has ended.</summary>
    public void Stop()
    {
        Thread? thread;
        lock (_lock)
        {
            thread = _thread;
            _thread = null;
            _stop?.Cancel();
        }
        if (thread != null && thread != Thread.CurrentThread) thread.Join();
    }

    /// <summary>Runs the body as soon as possible instead of at the end of the interval.</summary>
    public void Wake()
    {
        lock (_lock)
            if (!_disposed) _wake.Set();
    }

    private void Run(CancellationToken token)
    {
        if (idlePriority) IdleScheduling.MakeCurrentThreadIdle();
        try
        {
            while (!token.IsCancellationRequested)
                if (!body(token)) WaitHandle.WaitAny([token.WaitHandle, _wake], interval);
        }
        catch (Exception e)
        {
            onFault(e);
        }
    }

    /// <summary>Stops the thread and releases the wake event.</summary>
    public void Dispose()
    {
        Stop();
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            _stop?.Dispose();
            _wake.Dispose();
        }
    }
}
