namespace GuestMemory.Host;

/// <summary>
/// Keeps a background worker within a budget of items per second and a share of one CPU: after each
/// slice of work it sleeps as long as needed. CPU time is the worker thread's own (<see cref="ThreadCpuTime"/>).
/// </summary>
public sealed class WorkBudget
{
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

    /// <summary>Sleeps as needed after <paramref name="itemsDone"/> items; returns false once cancelled.</summary>
    public bool Throttle(long itemsDone)
    {
        double wallMs = Environment.TickCount64 - _wallStart;
        double waitMs = 0;
        if (_itemsPerSecond > 0) waitMs = Math.Max(waitMs, itemsDone * 1000.0 / _itemsPerSecond - wallMs);
        if (_cpuFraction < 1) waitMs = Math.Max(waitMs, (ThreadCpuTime.Now() - _cpuStart).TotalMilliseconds / _cpuFraction - wallMs);
        if (waitMs >= 1) _token.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(Math.Min(waitMs, 1000)));
        return !_token.IsCancellationRequested;
    }
}
