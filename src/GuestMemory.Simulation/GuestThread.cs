namespace GuestMemory.Simulation;

/// <summary>
/// The thread a simulated guest runs on: the next tick at once while the last one left work, else after
/// a rest or as soon as the host posts a new target (<see cref="Wake"/>). The core's own worker loop is
/// internal to it; a guest stands on the host's side of the public API, so it keeps a thread of its
/// own and this package depends on nothing but that API.
/// </summary>
/// <remarks>
/// <c>_lock</c> guards the current run. Each run has its own stop flag, so a run that is told to stop
/// never picks up a later start's flag. An exception escaping a tick ends the run and goes to
/// <c>onFault</c>: the guest's owner decides what it means, the process goes on.
/// </remarks>
internal sealed class GuestThread(string name, Func<bool> tick, TimeSpan rest, Action<Exception> onFault) : IDisposable
{
    private readonly Lock _lock = new();
    private readonly AutoResetEvent _wake = new(false);
    private (Thread Thread, StopFlag Flag)? _run;
    private bool _disposed;

    /// <summary>True while a run's thread is alive.</summary>
    public bool IsRunning { get { lock (_lock) return _run is { Thread.IsAlive: true }; } }

    /// <summary>Starts a run on a new background thread.</summary>
    /// <exception cref="InvalidOperationException">A run is going on.</exception>
    public void Start()
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_run is { Thread.IsAlive: true }) throw new InvalidOperationException($"{name} is already running");
            var flag = new StopFlag();
            var thread = new Thread(() => Loop(flag)) { IsBackground = true, Name = name };
            _run = (thread, flag);
            thread.Start();
        }
    }

    /// <summary>Tells the run to stop and waits for its current tick to end (unless called from the run itself).</summary>
    public void Stop()
    {
        Thread? thread = null;
        lock (_lock)
        {
            if (_run is var (running, flag))
            {
                flag.Stopping = true;
                thread = running;
                _run = null;
                if (!_disposed) _wake.Set();
            }
        }
        if (thread != null && thread != Thread.CurrentThread) thread.Join();
    }

    /// <summary>Runs the next tick as soon as possible instead of after the rest.</summary>
    public void Wake()
    {
        lock (_lock)
            if (!_disposed) _wake.Set();
    }

    private void Loop(StopFlag flag)
    {
        try
        {
            while (!flag.Stopping)
                if (!tick() && !flag.Stopping) _wake.WaitOne(rest);
        }
        catch (Exception e)
        {
            onFault(e);
        }
    }

    /// <summary>Stops the run and releases the wake-up event.</summary>
    public void Dispose()
    {
        Stop();
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            _wake.Dispose();
        }
    }

    /// <summary>One run's stop request, written under the lock and read by the run's thread.</summary>
    private sealed class StopFlag
    {
        public volatile bool Stopping;
    }
}
