using System.Diagnostics;

namespace GuestMemory.Benchmarks;

/// <summary>
/// Timing for the whole-system figures: warm up until the JIT has settled, then time many short runs and
/// report the best per unit (a page, a clear). Interference only ever adds time, so the fastest run is
/// the closest to the cost of the code itself.
/// </summary>
/// <remarks>
/// By default runs are timed by the thread's CPU clock (user and system time, so page faults and madvise
/// count): on a machine shared with builds and tests, wall time mostly measures waiting for a CPU. A
/// wall clock (<see cref="Stopwatch"/>) is the right choice on a quiet machine.
/// </remarks>
public sealed class Timing(bool wallClock)
{
    private const int Runs = 31;
    private static readonly TimeSpan WarmUp = TimeSpan.FromMilliseconds(300);

    /// <summary>How the figures are summarised, for the report.</summary>
    public string Statistic => $"{(wallClock ? "wall time" : "thread CPU time")}, best of {Runs} runs";

    /// <summary>
    /// Calls <paramref name="run"/> for the warm-up time, then <see cref="Runs"/> times; each call returns the
    /// time of its measured part. Returns the best nanoseconds per unit, for <paramref name="unitsPerRun"/> units a run.
    /// </summary>
    internal double BestNanoseconds(long unitsPerRun, Action run)
    {
        var warmUp = Stopwatch.StartNew();
        while (warmUp.Elapsed < WarmUp) run();
        TimeSpan best = TimeSpan.MaxValue;
        for (int i = 0; i < Runs; i++)
        {
            TimeSpan start = Now();
            run();
            TimeSpan time = Now() - start;
            if (time < best) best = time;
        }
        return best.TotalNanoseconds / unitsPerRun;
    }

    private TimeSpan Now() => wallClock ? Stopwatch.GetElapsedTime(0) : ThreadCpuClock.Now();
}
