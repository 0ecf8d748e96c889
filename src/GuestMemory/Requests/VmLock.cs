using System.Collections.Concurrent;
using GuestMemory.Host;

namespace GuestMemory.Requests;

/// <summary>
/// A VM's lock together with its request queue (the seed's pgm critical section plus VMReq). The queue
/// is lock-free (<see cref="ConcurrentQueue{T}"/>): senders never block on the lock. Whoever holds the
/// lock runs the pending requests before letting go, and a sender that finds the lock free runs them
/// itself, so every request runs under the lock and none is stranded: after releasing, the holder looks
/// at the queue once more and takes the lock again if a request slipped in.
/// </summary>
public sealed class VmLock
{
    private readonly RankedLock _lock = new(LockRank.Vm);
    private readonly ConcurrentQueue<VmRequest> _pending = new();
    /// <summary>How deep the holding thread has entered (guarded by the lock): requests run only when the outermost holder leaves.</summary>
    private int _depth;

    /// <summary>Requests waiting to run.</summary>
    public int PendingCount => _pending.Count;

    /// <summary>True when the calling thread holds the lock.</summary>
    public bool IsHeldByCurrentThread => _lock.IsHeldByCurrentThread;

    /// <summary>Takes the lock; dispose the scope to run pending requests and release it.</summary>
    public Scope Enter()
    {
        _lock.Enter();
        _depth++;
        return new Scope(this);
    }

    /// <summary>Queues a request; runs it now if the lock is free, and waits for it if asked.</summary>
    public void Submit(VmRequest request, bool wait)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (wait && _lock.IsHeldByCurrentThread)
            throw new InvalidOperationException("a thread that holds the VM lock cannot wait for a request: it runs when the lock is released");
        _pending.Enqueue(request);
        if (wait)
        {
            _lock.Enter();
            _depth++;
            Exit();
            request.Wait();
        }
        else if (_lock.TryEnter())
        {
            _depth++;
            Exit();
        }
    }

    /// <summary>Runs pending requests now (for a VM worker loop, which may already hold the lock at a point of its choosing); returns how many ran.</summary>
    public int ProcessPending()
    {
        if (_pending.IsEmpty) return 0;
        if (_lock.IsHeldByCurrentThread) return RunPending(); // the holder (a VM worker) chose this point
        _lock.Enter();
        _depth++;
        int ran = RunPending();
        Exit();
        return ran;
    }

    private int RunPending()
    {
        int ran = 0;
        while (_pending.TryDequeue(out VmRequest? request))
        {
            request.Run();
            ran++;
        }
        return ran;
    }

    private void Exit()
    {
        if (_depth > 1)
        {
            _depth--; // an inner scope: the outermost one runs the requests
            _lock.Exit();
            return;
        }
        while (true)
        {
            RunPending();
            _depth = 0;
            _lock.Exit();
            if (_pending.IsEmpty || !_lock.TryEnter()) return;
            _depth = 1;
        }
    }

    /// <summary>Holding the lock; disposing runs pending requests and releases it.</summary>
    public readonly ref struct Scope(VmLock owner)
    {
        /// <summary>Runs pending requests and releases the lock.</summary>
        public void Dispose() => owner.Exit();
    }
}
