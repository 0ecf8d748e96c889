using GuestMemory.Migration.Target;
using Microsoft.Extensions.Logging;

namespace GuestMemory.Migration;

/// <summary>
/// The standby of a mirrored VM: receives checkpoint after checkpoint on a thread of its own, stages each
/// beside the VM's image and commits it in one step once it is complete and checked, so the VM always
/// holds the last complete checkpoint. <see cref="TakeOver"/> ends the mirroring and hands that VM over
/// to run here.
/// </summary>
/// <remarks>
/// A source that dies, or a connection that drops, in the middle of a checkpoint leaves the standby at
/// the checkpoint before: the partial one is discarded (<see cref="Failure"/> says what happened). A
/// standby that never completed a checkpoint has nothing to take over; its VM is destroyed when the
/// session ends. Members are safe to call from any thread.
/// </remarks>
public sealed class MirrorStandby : IDisposable
{
    private readonly GlobalMemoryManager _gmm;
    private readonly ILogger _log;
    private readonly IncomingSession _session;
    private readonly Thread _thread;
    private readonly object _lock = new(); // guards the fields below; waited on for checkpoints (Monitor)
    private int _checkpoint;
    private VirtualMachine? _takenOver;
    private bool _disposed;
    private bool _ended;

    internal MirrorStandby(GlobalMemoryManager gmm, IncomingSession session)
    {
        _gmm = gmm;
        _log = gmm.LoggerFactory.CreateLogger<MirrorStandby>();
        _session = session;
        _thread = new Thread(Receive) { IsBackground = true, Name = $"standby {session.Vm?.Name}" };
        _thread.Start();
    }

    /// <summary>The last complete checkpoint the VM holds (0: none yet).</summary>
    public int Checkpoint { get { lock (_lock) return _checkpoint; } }

    /// <summary>True once the session ended: the source said BYE, or the connection failed (<see cref="Failure"/>).</summary>
    public bool Ended { get { lock (_lock) return _ended; } }

    /// <summary>Why the session ended, unless the source ended it with BYE (or it is still running).</summary>
    public GmmException? Failure { get; private set; }

    /// <summary>Waits until checkpoint <paramref name="number"/> is complete here; false when the session ended first or time ran out.</summary>
    public bool WaitForCheckpoint(int number, TimeSpan timeout)
    {
        long deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        lock (_lock)
        {
            while (_checkpoint < number && !_ended)
            {
                long left = deadline - Environment.TickCount64;
                if (left <= 0) break;
                Monitor.Wait(_lock, TimeSpan.FromMilliseconds(left));
            }
            return _checkpoint >= number;
        }
    }

    /// <summary>
    /// Ends the mirroring (a checkpoint being received is discarded) and returns the VM, holding the last
    /// complete checkpoint, to run here. Start its vCPUs after this returns.
    /// </summary>
    /// <exception cref="GmmException"><see cref="GmmError.VmNotFound"/> when no checkpoint was ever completed (nothing to take over).</exception>
    public VirtualMachine TakeOver()
    {
        Stop();
        lock (_lock)
        {
            if (_takenOver != null) return _takenOver;
            if (_checkpoint == 0 || _session.Vm == null || _session.Vm.IsDestroyed)
                throw new GmmException(GmmError.VmNotFound, "the standby never completed a checkpoint: there is nothing to take over");
            return _takenOver = _session.Vm;
        }
    }

    /// <summary>Ends the mirroring; the VM is destroyed unless it was taken over.</summary>
    public void Dispose()
    {
        Stop();
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            if (_takenOver == null && _session.Vm is { IsDestroyed: false } vm) _gmm.DestroyVm(vm);
        }
    }

    /// <summary>Closes the connection at once (the receiving thread then ends, discarding a partial checkpoint) and waits for the thread.</summary>
    private void Stop()
    {
        _session.Close();
        _thread.Join();
    }

    /// <remarks>
    /// The thread's own: nothing may escape it (an exception leaving a thread ends the process). A failure
    /// while cleaning up after a failure is logged, and the first failure stays the one reported.
    /// </remarks>
    private void Receive()
    {
        try
        {
            _session.Run(MigrationMode.Mirror, Committed);
        }
        catch (Exception e)
        {
            GmmException reason = IncomingSession.Reason(e);
            Failure = reason;
            CleanUp(() => _session.Abandon(reason, keepCommitted: true));
        }
        finally
        {
            CleanUp(_session.Dispose);
            lock (_lock)
            {
                _ended = true;
                Monitor.PulseAll(_lock);
            }
        }
    }

    private void CleanUp(Action step)
    {
        try { step(); }
        catch (Exception e)
        {
            _log.LogError(e, "the standby of {Vm} failed while cleaning up after its session", _session.Vm?.Name);
        }
    }

    private void Committed(int checkpoint)
    {
        lock (_lock)
        {
            _checkpoint = checkpoint;
            Monitor.PulseAll(_lock);
        }
    }
}
