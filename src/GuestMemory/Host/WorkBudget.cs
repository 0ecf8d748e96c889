namespace GuestMemory.Host;

/// <summary>
/// Keeps a background worker (page fusion, compaction) within a budget of items per second and a share
/// of one CPU: after each slice of work it sleeps until the items done so far fit the item rate and
/// the CPU time spent fits the CPU share of the wall time since the budget began. CPU time is the worker
/// thread's own (<see cref="ThreadCpuTime"/>), so create the budget on the worker thread.
/// </summary>
internal sealed class WorkBudget
{
    /// <summary>Sleep in slices of at most this long, so a stop request is noticed promptly.</summary>
    private const int SliceMs = 100;
    private readonly int _itemsPerSecond;
    private readonly double _cpuFraction;
    private readonly CancellationToken _token;
    private readonly long _wallStart = Environment.TickCount64;
    private readonly TimeSpan _cpuStart = ThreadCpuTime.Now();

    /// <summary>Starts measuring now, on the worker thread.</summary>
    /// <param name="itemsPerSecond">0 for no item budget.</param>
    /// <param name="cpuFraction">1 for no CPU budget.</param>
    /// <param name="token">Cancels the sleeps.</param>
    public WorkBudget(int itemsPerSecond, double cpuFraction, CancellationToken token)
    {
        _itemsPerSecond = itemsPerSecond;
        _cpuFraction = cpuFraction;
        _token = token;
    }

    /// <summary>Sleeps as long as the budget requires after <paramref name="itemsDone"/> items; returns false once cancelled.</summary>
    public bool Throttle(long itemsDone)
    {
        for (double waitMs; !_token.IsCancellationRequested && (waitMs = WaitNeeded(itemsDone)) >= 1;)
            _token.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(Math.Min(waitMs, SliceMs)));
        return !_token.IsCancellationRequested;
    }

    private double WaitNeeded(long itemsDone)
    {
        double wallMs = Environment.TickCount64 - _wallStart, waitMs = 0;
        if (_itemsPerSecond > 0) waitMs = itemsDone * 1000.0 / _itemsPerSecond - wallMs;
        if (_cpuFraction < 1) waitMs = Math.Max(waitMs, (ThreadCpuTime.Now() - _cpuStart).TotalMilliseconds / _cpuFraction - wallMs);
        return waitMs;
    }
}
