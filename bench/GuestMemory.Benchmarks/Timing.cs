using System.Diagnostics;

namespace GuestMemory.Benchmarks;

/// <summary>
/// Stopwatch timing for the whole-system figures: warm up until the JIT has settled, then time many short
/// runs and report the best per unit (a page, a clear). The machine is shared (builds and tests run beside
/// the benchmark) and interference only ever adds time, so the fastest run is the closest to the cost of
/// the code itself; runs are kept to a few milliseconds so that some of them go uninterrupted.
/// </summary>
public static class Timing
{
    /// <summary>How the figures are summarised, for the report.</summary>
    public const string Statistic = "best of 31 runs";
    private const int Runs = 31;
    private static readonly TimeSpan WarmUp = TimeSpan.FromMilliseconds(300);

    /// <summary>
    /// Calls <paramref name="run"/> for the warm-up time, then <see cref="Runs"/> times; each call returns the
    /// time of its measured part. Returns the best nanoseconds per unit, for <paramref name="unitsPerRun"/> units a run.
    /// </summary>
    internal static double BestNanoseconds(long unitsPerRun, Func<TimeSpan> run)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < WarmUp) run();
        TimeSpan best = TimeSpan.MaxValue;
        for (int i = 0; i < Runs; i++)
        {
            TimeSpan time = run();
            if (time < best) best = time;
        }
        return best.TotalNanoseconds / unitsPerRun;
    }

    /// <summary>Times <paramref name="action"/> alone.</summary>
    internal static TimeSpan Time(Action action)
    {
        long start = Stopwatch.GetTimestamp();
        action();
        return Stopwatch.GetElapsedTime(start);
    }
}
