using System.Diagnostics;
using GuestMemory.Fusion;
using GuestMemory.Gmm;
using GuestMemory.Host;
using GuestMemory.Phys;

namespace GuestMemory.Benchmarks;

/// <summary>
/// <c>gmm bench fusion</c>: real guest RAM dumps, each loaded into its own VM through the guest write
/// API, then page fusion pass after pass (<see cref="PageFusion.RunPass"/>) until a pass changes
/// nothing (<see cref="FusionPassResult.Converged"/>; the first pass only arms write monitoring, so
/// "a pass that merges nothing" would stop too early). Measures what was saved against the exact
/// upper bound (<see cref="DumpAnalyzer"/>), the scanner's CPU time and speed, and the process's real RSS.
/// </summary>
/// <remarks>
/// Before the clock starts, fusion runs once over a small synthetic set (<see cref="WarmUp"/>), so the
/// figures are those of a scanner in a host that has been up for a while, not of the JIT compiling
/// it: in a cold process the first pass also pays for compiling and profiling the code it runs,
/// a one-time cost that does not grow with the memory scanned.
/// </remarks>
public static class FusionBench
{
    /// <summary>Give up after this many passes (convergence normally takes three).</summary>
    public const int MaxPasses = 50;

    /// <summary>Runs the benchmark on <paramref name="dumps"/> (raw or gzip).</summary>
    public static FusionBenchResult Run(IReadOnlyList<string> dumps, IProgress<BenchProgress>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(dumps);
        if (dumps.Count == 0) throw new ArgumentException("no dump to load", nameof(dumps));
        long[] pages = dumps.Select(PagesOf).ToArray();
        progress?.Report(new BenchProgress("warming up", 0, 1));
        WarmUp();
        FusionBenchResult result;
        using (var gmm = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = (pages.Sum() << Paging.PageShift) + (64L << 20) }))
        {
            Load(gmm, dumps, pages, progress, cancel);
            result = Fuse(gmm, pages.Sum(), progress, cancel);
        }
        progress?.Report(new BenchProgress("exact analysis", 0, pages.Sum()));
        DumpAnalysis perfect = DumpAnalyzer.Analyze(dumps, new InlineProgress<long>(done => progress?.Report(new BenchProgress("exact analysis", done, pages.Sum()))), cancel);
        return result with { PerfectSavingsPct = perfect.Total.SavingsPct };
    }

    /// <summary>
    /// Runs fusion over a small synthetic set, round after round, until a round (and a pause for the
    /// background compiler) compiles no new method: the scanner's code is then at its final tier, as in
    /// a host that has been up for a while. At most <paramref name="maxRounds"/> rounds.
    /// </summary>
    public static int WarmUp(int maxRounds = 20)
    {
        int rounds = 0;
        long compiled;
        do
        {
            compiled = System.Runtime.JitInfo.GetCompiledMethodCount();
            WarmUpRound(rounds++);
            Thread.Sleep(200); // past the tiering delay, so counted methods get their optimised code
        }
        while (System.Runtime.JitInfo.GetCompiledMethodCount() != compiled && rounds < maxRounds);
        return rounds;
    }

    /// <summary>
    /// Two small VMs whose pages are a third zero, a third copies from a pool and a third unique, fused
    /// to convergence: every path of a pass (arm, zero, pair, join, keep, prune on destroy) runs.
    /// </summary>
    private static void WarmUpRound(int round, int pagesPerVm = 4096)
    {
        using var gmm = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = 64L << 20 });
        var page = new byte[Paging.PageSize];
        for (int v = 0; v < 2; v++)
        {
            VirtualMachine vm = gmm.CreateVm(new VmOptions { Name = $"warm-up-{v}", RamSize = (long)pagesPerVm << Paging.PageShift });
            for (int p = 0; p < pagesPerVm; p++)
            {
                Array.Clear(page);
                if (p % 3 == 1) BitConverter.TryWriteBytes(page, p % 64);
                else if (p % 3 == 2) BitConverter.TryWriteBytes(page, ((long)round << 48) | ((long)v << 32) | (long)p);
                vm.Memory.Write((ulong)p << Paging.PageShift, page);
            }
        }
        for (int pass = 0; pass < MaxPasses && !gmm.Fusion.RunPass().Converged; pass++) { }
        gmm.DestroyVm(gmm.Vms[0]);
        gmm.Fusion.RunPass();
    }

    private static long PagesOf(string path)
    {
        using GuestDump dump = GuestDump.Open(path);
        return dump.PageHint;
    }

    private static void Load(GlobalMemoryManager gmm, IReadOnlyList<string> dumps, long[] pages, IProgress<BenchProgress>? progress, CancellationToken cancel)
    {
        long before = 0, total = pages.Sum();
        for (int i = 0; i < dumps.Count; i++)
        {
            cancel.ThrowIfCancellationRequested();
            VirtualMachine vm = gmm.CreateVm(new VmOptions { Name = Path.GetFileName(dumps[i]), RamSize = pages[i] << Paging.PageShift });
            using GuestDump dump = GuestDump.Open(dumps[i]);
            long offset = before;
            dump.WriteTo(vm.Memory, new InlineProgress<long>(done =>
            {
                cancel.ThrowIfCancellationRequested();
                progress?.Report(new BenchProgress("loading dumps", offset + done, total));
            }));
            before += pages[i];
        }
    }

    private static FusionBenchResult Fuse(GlobalMemoryManager gmm, long guestPages, IProgress<BenchProgress>? progress, CancellationToken cancel)
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        long rssBefore = HostRss.ReadBytes();
        GmmStatistics gmmBefore = gmm.Statistics;
        var clock = Stopwatch.StartNew();
        TimeSpan lastChange = TimeSpan.Zero;
        int passes = 0;
        var perPass = new List<double>();
        for (bool converged = false; !converged;)
        {
            cancel.ThrowIfCancellationRequested();
            if (passes == MaxPasses) throw new InvalidOperationException($"page fusion did not converge in {MaxPasses} passes");
            progress?.Report(new BenchProgress("fusion passes", passes, 3));
            FusionPassResult pass = gmm.Fusion.RunPass();
            passes++;
            converged = pass.Converged;
            if (pass.Merged + pass.ZeroPagesReclaimed > 0) lastChange = clock.Elapsed;
            perPass.Add(SavingsPct(gmm, guestPages));
        }
        long rssAfter = HostRss.ReadBytes();
        GmmStatistics gmmAfter = gmm.Statistics;
        FusionStatistics fusion = gmm.Fusion.Statistics;
        gmm.Verify();
        return new FusionBenchResult
        {
            GuestPages = guestPages,
            SavingsPct = perPass[^1],
            SavingsPctPerPass = perPass,
            Passes = passes,
            ConvergeSeconds = lastChange.TotalSeconds,
            CpuSeconds = fusion.ScanCpuTime.TotalSeconds,
            BytesScanned = fusion.BytesScanned,
            RssBeforeBytes = rssBefore,
            RssAfterBytes = rssAfter,
            FreedBytes = (gmmBefore.AllocatedPages - gmmAfter.AllocatedPages) << Paging.PageShift,
            Fusion = fusion,
        };
    }

    /// <summary>
    /// Guest pages no longer backed by a host page of their own: all guest pages minus the private pages
    /// in use, the distinct shared pages and (if any guest page is on it) the one zero page, so the
    /// figure is comparable with <see cref="PageFigures.SavingsPct"/>.
    /// </summary>
    private static double SavingsPct(GlobalMemoryManager gmm, long guestPages)
    {
        long privatePages = 0, zero = 0;
        foreach (VirtualMachine vm in gmm.Vms)
        {
            GuestMemoryStatistics s = vm.Memory.GetStatistics();
            privatePages += s.AllocatedPages + s.WriteMonitoredPages;
            zero += s.ZeroPages;
        }
        long hostPages = privatePages + gmm.Statistics.SharedPages + (zero > 0 ? 1 : 0);
        return 100.0 * (guestPages - hostPages) / guestPages;
    }
}

/// <summary>What <see cref="FusionBench.Run"/> measured.</summary>
public sealed record FusionBenchResult
{
    /// <summary>Guest pages of all dumps.</summary>
    public long GuestPages { get; init; }
    /// <summary>Guest pages no longer backed by a host page of their own after convergence, in percent.</summary>
    public double SavingsPct { get; init; }
    /// <summary>The same after each pass.</summary>
    public IReadOnlyList<double> SavingsPctPerPass { get; init; } = [];
    /// <summary>Perfect zero-page plus sharing savings (exact analysis of the same dumps), in percent.</summary>
    public double PerfectSavingsPct { get; init; }
    /// <summary>Passes run, the last one being the one that changed nothing.</summary>
    public int Passes { get; init; }
    /// <summary>Wall time from the start of the first pass to the end of the last pass that merged or zeroed a page.</summary>
    public double ConvergeSeconds { get; init; }
    /// <summary>The scanner's CPU time over all passes (thread CPU time, user and system).</summary>
    public double CpuSeconds { get; init; }
    /// <summary>Guest bytes zero-checked, hashed or compared.</summary>
    public long BytesScanned { get; init; }
    /// <summary><see cref="BytesScanned"/> per second of scanner CPU time, in GB/s (10^9 bytes).</summary>
    public double ScanGbps => CpuSeconds > 0 ? BytesScanned / CpuSeconds / 1e9 : 0;
    /// <summary>Process RSS with every dump loaded, before the first pass.</summary>
    public long RssBeforeBytes { get; init; }
    /// <summary>Process RSS after the last pass.</summary>
    public long RssAfterBytes { get; init; }
    /// <summary>Host pages the Gmm no longer uses after fusion (private pages freed minus shared pages created), in bytes.</summary>
    public long FreedBytes { get; init; }
    /// <summary>How much of <see cref="FreedBytes"/> really left the process (RSS drop / freed).</summary>
    public double RssDropRatio => FreedBytes > 0 ? (double)(RssBeforeBytes - RssAfterBytes) / FreedBytes : 0;
    /// <summary>The scanner's own totals.</summary>
    public FusionStatistics? Fusion { get; init; }
}
