using GuestMemory.Host;

namespace GuestMemory.Fusion;

/// <summary>
/// The background scanner's budget for one pass: after each segment it sleeps until the pages done so
/// far fit <see cref="FusionOptions.PagesPerSecond"/> and the CPU time spent fits
/// <see cref="FusionOptions.CpuFraction"/> of the wall time since the pass began.
/// </summary>
internal sealed class FusionBudget(FusionOptions options, CancellationToken token)
{
    /// <summary>Sleep in slices of at most this long, so <see cref="PageFusion.Stop"/> is prompt.</summary>
    private const int SliceMs = 100;
    private readonly long _wallStart = Environment.TickCount64;

    /// <summary>Sleeps as long as the budget requires; returns false when the scanner is being stopped.</summary>
    public bool Throttle(long pagesDone, TimeSpan cpuStart)
    {
        for (double waitMs; !token.IsCancellationRequested && (waitMs = WaitNeeded(pagesDone, cpuStart)) >= 1;)
            token.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(Math.Min(waitMs, SliceMs)));
        return !token.IsCancellationRequested;
    }

    private double WaitNeeded(long pagesDone, TimeSpan cpuStart)
    {
        double wallMs = Environment.TickCount64 - _wallStart, waitMs = 0;
        if (options.PagesPerSecond > 0) waitMs = pagesDone * 1000.0 / options.PagesPerSecond - wallMs;
        if (options.CpuFraction < 1) waitMs = Math.Max(waitMs, (ThreadCpuTime.Now() - cpuStart).TotalMilliseconds / options.CpuFraction - wallMs);
        return waitMs;
    }
}
