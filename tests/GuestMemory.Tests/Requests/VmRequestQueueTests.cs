using GuestMemory.Requests;

namespace GuestMemory.Tests.Requests;

/// <summary>
/// The VM request interface: a lock-free queue of requests that run under the VM's lock, on whichever
/// thread holds it next (or a worker calling ProcessPending); the sender may wait or go on.
/// </summary>
public sealed class VmRequestQueueTests
{
    [Fact]
    public void A_request_submitted_with_wait_runs_under_the_lock_before_submit_returns()
    {
        var vmLock = new VmLock();
        var request = new RecordingRequest(vmLock);
        vmLock.Submit(request, wait: true);
        Assert.True(request.IsCompleted);
        Assert.Equal([(Environment.CurrentManagedThreadId, true)], request.Runs);
        Assert.Equal(0, vmLock.PendingCount);
    }

    [Fact]
    public void A_request_submitted_without_wait_runs_at_once_when_the_lock_is_free()
    {
        var vmLock = new VmLock();
        var request = new RecordingRequest(vmLock);
        vmLock.Submit(request, wait: false);
        Assert.True(request.IsCompleted);
        Assert.Single(request.Runs);
    }

    [Fact]
    public void While_another_thread_holds_the_lock_requests_wait_and_run_on_its_release_in_order()
    {
        var vmLock = new VmLock();
        using var holder = new LockHolder(vmLock);
        var requests = Enumerable.Range(0, 3).Select(_ => new RecordingRequest(vmLock)).ToArray();
        foreach (RecordingRequest r in requests) vmLock.Submit(r, wait: false);
        Assert.All(requests, r => Assert.False(r.IsCompleted));
        Assert.Equal(3, vmLock.PendingCount);

        holder.Release();

        Assert.All(requests, r => Assert.Equal([(holder.ThreadId, true)], r.Runs));
        Assert.Equal(requests.Select(r => r.Sequence).Order(), requests.Select(r => r.Sequence));
        Assert.Equal(0, vmLock.PendingCount);
    }

    [Fact]
    public void A_request_sent_inside_nested_scopes_runs_only_when_the_outermost_scope_ends()
    {
        var vmLock = new VmLock();
        var request = new RecordingRequest(vmLock);
        using (vmLock.Enter())
        {
            using (vmLock.Enter()) vmLock.Submit(request, wait: false);
            Assert.False(request.IsCompleted); // not in the middle of the outer locked section
        }
        Assert.True(request.IsCompleted);
        Assert.Equal([(Environment.CurrentManagedThreadId, true)], request.Runs);
    }

    [Fact]
    public void The_lock_holder_cannot_wait_for_a_request()
    {
        var vmLock = new VmLock();
        var request = new RecordingRequest(vmLock);
        using (vmLock.Enter())
            Assert.Throws<InvalidOperationException>(() => vmLock.Submit(request, wait: true));
        Assert.Equal(0, vmLock.PendingCount); // refused before it was queued
        Assert.False(request.IsCompleted);
    }

    [Fact]
    public void A_waiting_sender_blocks_until_the_holder_lets_go()
    {
        var vmLock = new VmLock();
        using var holder = new LockHolder(vmLock);
        var request = new RecordingRequest(vmLock);
        var sender = new Thread(() => vmLock.Submit(request, wait: true));
        sender.Start();
        Assert.False(sender.Join(100));
        Assert.False(request.IsCompleted);

        holder.Release();
        sender.Join();
        Assert.True(request.IsCompleted);
        Assert.Single(request.Runs);
    }

    [Fact]
    public void ProcessPending_runs_what_is_queued_and_says_how_many()
    {
        var vmLock = new VmLock();
        Assert.Equal(0, vmLock.ProcessPending());
        using var holder = new LockHolder(vmLock);
        var requests = Enumerable.Range(0, 4).Select(_ => new RecordingRequest(vmLock)).ToArray();
        foreach (RecordingRequest r in requests) vmLock.Submit(r, wait: false);

        int ran = holder.Run(vmLock.ProcessPending); // the VM's own worker, which holds the lock

        Assert.Equal(4, ran);
        Assert.All(requests, r => Assert.Equal([(holder.ThreadId, true)], r.Runs));
    }

    [Fact]
    public void An_exception_surfaces_on_Wait_and_the_queue_goes_on()
    {
        var vmLock = new VmLock();
        var failing = new RecordingRequest(vmLock, fail: true);
        var next = new RecordingRequest(vmLock);
        using (var holder = new LockHolder(vmLock))
        {
            vmLock.Submit(failing, wait: false);
            vmLock.Submit(next, wait: false);
        }
        Assert.True(failing.IsCompleted);
        InvalidOperationException e = Assert.Throws<InvalidOperationException>(failing.Wait);
        Assert.Same(failing.Error, e);
        Assert.Throws<InvalidOperationException>(() => vmLock.Submit(new RecordingRequest(vmLock, fail: true), wait: true));
        next.Wait();
        Assert.Single(next.Runs);
        using (vmLock.Enter()) Assert.True(vmLock.IsHeldByCurrentThread); // the lock was released after the failure
    }

    [Fact]
    public void Under_contention_every_request_runs_exactly_once_and_none_is_stranded()
    {
        var vmLock = new VmLock();
        var requests = new RecordingRequest[4][];
        using var stop = new CancellationTokenSource();
        var worker = new Thread(() => { while (!stop.IsCancellationRequested) vmLock.ProcessPending(); });
        var locker = new Thread(() => { while (!stop.IsCancellationRequested) using (vmLock.Enter()) Thread.SpinWait(50); });
        worker.Start();
        locker.Start();
        Thread[] senders = Enumerable.Range(0, requests.Length).Select(t => new Thread(() =>
        {
            requests[t] = Enumerable.Range(0, 2000).Select(_ => new RecordingRequest(vmLock)).ToArray();
            for (int i = 0; i < requests[t].Length; i++) vmLock.Submit(requests[t][i], wait: i % 10 == 0);
        })).ToArray();
        foreach (Thread s in senders) s.Start();
        foreach (Thread s in senders) s.Join();
        stop.Cancel();
        worker.Join();
        locker.Join();

        Assert.Equal(0, vmLock.PendingCount);
        Assert.All(requests.SelectMany(r => r), r => Assert.Single(r.Runs));
        Assert.All(requests.SelectMany(r => r), r => Assert.True(r.Runs[0].UnderLock));
    }

    /// <summary>Records where and whether under the lock it ran, and a global run order.</summary>
    private sealed class RecordingRequest(VmLock vmLock, bool fail = false) : VmRequest
    {
        private static long s_sequence;

        public List<(int Thread, bool UnderLock)> Runs { get; } = [];

        public long Sequence { get; private set; }

        protected override void Execute()
        {
            Runs.Add((Environment.CurrentManagedThreadId, vmLock.IsHeldByCurrentThread));
            Sequence = Interlocked.Increment(ref s_sequence);
            if (fail) throw new InvalidOperationException("the precondition no longer holds");
        }
    }

    /// <summary>A thread that takes the lock at once and holds it until released (or until it is asked to run something).</summary>
    private sealed class LockHolder : IDisposable
    {
        private readonly ManualResetEventSlim _held = new(), _release = new(), _work = new(), _worked = new();
        private readonly Thread _thread;
        private Func<int>? _job;
        private int _result;

        public LockHolder(VmLock vmLock)
        {
            _thread = new Thread(() =>
            {
                using (vmLock.Enter())
                {
                    _held.Set();
                    while (WaitHandle.WaitAny([_release.WaitHandle, _work.WaitHandle]) == 1)
                    {
                        _work.Reset();
                        _result = _job!();
                        _worked.Set();
                    }
                }
            });
            _thread.Start();
            _held.Wait();
        }

        public int ThreadId => _thread.ManagedThreadId;

        /// <summary>Runs <paramref name="job"/> on the holder's thread, inside the lock.</summary>
        public int Run(Func<int> job)
        {
            _job = job;
            _work.Set();
            _worked.Wait();
            return _result;
        }

        public void Release()
        {
            _release.Set();
            _thread.Join();
        }

        public void Dispose() => Release();
    }
}
