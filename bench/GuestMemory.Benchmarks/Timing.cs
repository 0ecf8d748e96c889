using GuestMemory.Host;
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
    /// <summary>Warm-up counted in this thread's CPU time: on a loaded machine wall time would end it before the JIT has optimised anything.</summary>
    private static readonly TimeSpan WarmUp = TimeSpan.FromMilliseconds(400);
    /// <summary>A pause after warming up, so the background JIT can install the optimised code before the timed runs.</summary>
    private static readonly TimeSpan JitSettle = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan Spread = TimeSpan.FromMilliseconds(20);

    /// <summary>How the figures are summarised, for the report.</summary>
    public string Statistic => $"{(wallClock ? "wall time" : "thread CPU time")}, best of {Runs} runs";

    /// <summary>
    /// Calls <paramref name="run"/> for the warm-up time, then times it <see cref="Runs"/> times, a short pause
    /// before each. Returns the best nanoseconds per unit, for <paramref name="unitsPerRun"/> units a run.
    /// </summary>
    internal double BestNanoseconds(long unitsPerRun, Action run)
    {
        TimeSpan warmUpStart = ThreadCpuTime.Now();
        while (ThreadCpuTime.Now() - warmUpStart < WarmUp) run();
        Thread.Sleep(JitSettle);
        run();
        TimeSpan best = TimeSpan.MaxValue;
        for (int i = 0; i < Runs; i++)
        {
            // Spread the runs over time: the host's load comes and goes in spells longer than a run.
            Thread.Sleep(Spread);
            TimeSpan start = Now();
            run();
            TimeSpan time = Now() - start;
            if (time < best) best = time;
        }
        return best.TotalNanoseconds / unitsPerRun;
    }

    /// <summary>The chosen clock's reading (for the wall clock: the time since the Stopwatch origin).</summary>
    private TimeSpan Now() => wallClock ? Stopwatch.GetElapsedTime(0) : ThreadCpuTime.Now();
}
