using System.Diagnostics;
using GuestMemory.Host;

namespace GuestMemory.Benchmarks;

/// <summary>
/// The whole-system ballooning figures behind <c>gmm bench balloon</c>: how fast the controller reclaims
/// memory under a pressure step and how long a VM waits for its balloon target to settle.
/// </summary>
/// <remarks>
/// <para><b>A pressure step.</b> Every guest idles at 16 MiB after once using 48 MiB (so idle memory is
/// host-backed, as in a real guest). Then one VM's workload grows to 7/8 of its RAM: it uses its free
/// pages, asks for the rest, and the controller must take idle memory from the others (idle tax first)
/// and give it to the grower, all without letting RSS pass the budget. Then it shrinks back and the next
/// VM grows. Every step waits until everything has settled.</para>
/// <para><b>Figures.</b> Peak RSS over budget: the highest real RSS sampled every millisecond during the
/// steps. Reclaim rate: host pages the other VMs' balloons gave back (their private pages, counted by the
/// Gmm) over the time from the step's start to the last of their balloons settling. Settle times: every
/// wait the balloons report (<see cref="Balloon.VmBalloon.Settled"/>: from the first unmet target to the
/// balloon at target) during the steps; Firecracker users report 196 / 816 / 1,338 ms p50 / p95 / p99.</para>
/// </remarks>
public static class BalloonBench
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    public static BalloonFigures Run(BalloonBenchOptions? options = null)
    {
        options ??= new BalloonBenchOptions();
        if (options.Vms is < 2 or > 64 || options.RamMib is < 32 or > 4096 || options.Steps is < 1 or > 10_000)
            throw new GmmException(GmmError.InvalidArgument, "need 2..64 VMs, 32..4096 MiB each and 1..10,000 steps");
        using var rig = new BalloonRig(options);
        int timedOut = Warm(rig);
        long decisionsBefore = rig.Controller.Counters.Decisions;
        long measuredFrom = Stopwatch.GetTimestamp();
        long reclaimedPages = 0;
        double reclaimSeconds = 0;
        long peakRss;
        using (var rss = new RssSampler(TimeSpan.FromMilliseconds(1)))
        {
            for (int step = 0; step < options.Steps; step++)
            {
                (long pages, double seconds, int stepTimeouts) = PressureStep(rig, step % options.Vms, BalloonRig.Pages(options.RamMib * 7L / 8));
                reclaimedPages += pages;
                reclaimSeconds += seconds;
                timedOut += stepTimeouts;
            }
            peakRss = rss.Peak;
        }
        return Figures(options, rig, peakRss, measuredFrom, decisionsBefore, reclaimedPages, reclaimSeconds, timedOut);
    }

    /// <summary>Every guest uses 48 MiB once and goes back to idle: its free pages stay host-backed.</summary>
    private static int Warm(BalloonRig rig)
    {
        int timedOut = 0;
        foreach (long mib in new long[] { 48, BalloonRig.IdleMib })
        {
            foreach (var guest in rig.Guests) guest.WorkingSetPages = BalloonRig.Pages(mib);
            if (!rig.WaitQuiet(Timeout)) timedOut++;
        }
        return timedOut;
    }

    /// <summary>One VM grows, the rest give; then it shrinks back. Returns the host pages the others gave and how long that took.</summary>
    private static (long Pages, double Seconds, int TimedOut) PressureStep(BalloonRig rig, int grower, long workingSet)
    {
        int timedOut = 0;
        long[] before = rig.PrivatePages();
        long start = Stopwatch.GetTimestamp();
        rig.Guests[grower].WorkingSetPages = workingSet;
        if (!rig.WaitQuiet(Timeout)) timedOut++;
        long[] after = rig.PrivatePages();
        long pages = 0, lastDonorSettle = 0;
        foreach (var settle in rig.SettlesSince(start))
        {
            if (settle.Vm == grower || after[settle.Vm] >= before[settle.Vm]) continue;
            lastDonorSettle = Math.Max(lastDonorSettle, settle.At);
        }
        for (int i = 0; i < before.Length; i++)
            if (i != grower) pages += Math.Max(0, before[i] - after[i]);
        double seconds = lastDonorSettle == 0 ? 0 : Stopwatch.GetElapsedTime(start, lastDonorSettle).TotalSeconds;
        rig.Guests[grower].WorkingSetPages = BalloonRig.Pages(BalloonRig.IdleMib);
        if (!rig.WaitQuiet(Timeout)) timedOut++;
        return (seconds > 0 ? pages : 0, seconds, timedOut);
    }

    private static BalloonFigures Figures(BalloonBenchOptions options, BalloonRig rig, long peakRss, long measuredFrom,
        long decisionsBefore, long reclaimedPages, double reclaimSeconds, int timedOut)
    {
        (long contentErrors, long refused, Exception? fault) = rig.GuestHealth();
        if (fault != null) throw new InvalidOperationException("a simulated guest failed", fault);
        if (contentErrors != 0) throw new InvalidOperationException($"{contentErrors} guest pages lost their content");
        rig.Manager.Verify();
        double[] settles = rig.SettlesSince(measuredFrom).Select(s => s.Ms).Order().ToArray();
        double reclaimedMib = reclaimedPages * (double)Paging.PageSize / (1 << 20);
        return new BalloonFigures
        {
            PeakRssOverBudgetPct = Math.Max(0, peakRss - rig.BudgetBytes) * 100.0 / rig.BudgetBytes,
            ReclaimMibPerS = reclaimSeconds > 0 ? reclaimedMib / reclaimSeconds : 0,
            SettleMsP50 = Percentile(settles, 0.50),
            SettleMsP99 = Percentile(settles, 0.99),
            SettleSamples = settles.Length,
            ReclaimedMib = reclaimedMib,
            Steps = options.Steps,
            StepsTimedOut = timedOut,
            Vms = options.Vms,
            RamMib = options.RamMib,
            BudgetMib = rig.BudgetBytes / (double)(1 << 20),
            PeakRssMib = peakRss / (double)(1 << 20),
            ControllerDecisions = rig.Controller.Counters.Decisions - decisionsBefore,
            RefusedWrites = refused,
        };
    }

    /// <summary>Nearest-rank percentile of sorted values (0 when there are none).</summary>
    private static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? 0 : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
}
