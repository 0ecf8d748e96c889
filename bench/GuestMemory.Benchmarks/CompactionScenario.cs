using GuestMemory.Compaction;
using GuestMemory.Gmm;
using GuestMemory.Host;

namespace GuestMemory.Benchmarks;

/// <summary>
/// The fragmentation scenario of <c>gmm bench compaction</c>, run once: VMs start together and write
/// their RAM interleaved (page 0 of every VM, then page 1 of every VM, ...); every second VM is
/// destroyed, the others give a random half of their pages to the balloon (and, if asked, take part of
/// it back and write it again); then one compaction run. The process's real RSS is read at each step.
/// </summary>
/// <remarks>
/// <para><b>Freed memory</b> is the host pages the Gmm stopped using (its allocated pages with every VM
/// full minus after the frees) times 4 KiB: the destroyed VMs' pages and handy pages, and the ballooned
/// pages. <b>Returned</b> is the fall of the process's RSS over the same steps. So a returned share of
/// 100% means every freed page left the process; compaction also returns the survivors' handy pages,
/// which can take the figure after it a little over 100%.</para>
/// <para>VM destruction does not compact here (<see cref="GlobalMemoryManager.CompactOnVmShutdown"/> is
/// off), so "without compaction" is what the placement and the free policy achieve alone.</para>
/// </remarks>
internal sealed record CompactionScenario
{
    /// <summary>VMs started together (every second one is destroyed).</summary>
    public int Vms { get; init; } = 4;

    /// <summary>Guest RAM of each VM, MiB.</summary>
    public int RamMib { get; init; } = 256;

    /// <summary>Seed of the ballooned pages' choice.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>The Gmm's free policy (<see cref="GmmOptions.ReturnFreedPagesAtOnce"/>).</summary>
    public bool ReturnFreedPagesAtOnce { get; init; }

    /// <summary>Where new pages go (the placement experiment flips one choice at a time).</summary>
    public ChunkPlacement Placement { get; init; } = ChunkPlacement.Default;

    /// <summary>Every n-th page holds the same content in every VM and fusion shares it before the shutdown (0: no sharing).</summary>
    public int SharedEveryNth { get; init; }

    /// <summary>Share of each survivor's RAM taken back from the balloon and written again after the frees.</summary>
    public double RewriteFraction { get; init; }

    /// <summary>Whether to compact after the frees (false: only the figures before it).</summary>
    public bool Compact { get; init; } = true;

    /// <summary>Whether to keep the chunk maps before and after compaction in the outcome (for pictures).</summary>
    public bool KeepChunkMaps { get; init; }

    private long PagesPerVm => (long)RamMib << 20 >> Paging.PageShift;

    /// <summary>Runs the scenario; throws if any guest page lost its content or the consistency check fails.</summary>
    public CompactionOutcome Run()
    {
        using var gmm = new GlobalMemoryManager(new GmmOptions
        {
            HostMemoryLimit = Vms * ((long)RamMib << 20) + (64L << 20),
            ReturnFreedPagesAtOnce = ReturnFreedPagesAtOnce,
            Placement = Placement,
        });
        gmm.CompactOnVmShutdown = false;
        VirtualMachine[] vms = Enumerable.Range(0, Vms)
            .Select(i => gmm.CreateVm(new VmOptions { Name = $"vm-{i}", RamSize = (long)RamMib << 20, PageSharing = SharedEveryNth > 0 }))
            .ToArray();
        var pages = vms.ToDictionary(vm => vm, vm => new ScenarioPages(PagesPerVm, SharedEveryNth, RewriteFraction, new Random(Seed + vm.Handle.Value)));
        VirtualMachine[] destroyed = vms.Where((_, i) => i % 2 == 1).ToArray();
        VirtualMachine[] survivors = vms.Where((_, i) => i % 2 == 0).ToArray();
        var buffer = new byte[Paging.PageSize];
        for (long p = 0; p < PagesPerVm; p++)
            foreach (VirtualMachine vm in vms) pages[vm].WriteFirst(vm, p, buffer);
        if (SharedEveryNth > 0) FuseUntilConverged(gmm);
        (long rss, long allocated) full = Measure(gmm);

        foreach (VirtualMachine vm in destroyed) gmm.DestroyVm(vm);
        (long rss, long allocated) shutdown = Measure(gmm);
        foreach (VirtualMachine vm in survivors) pages[vm].Balloon(vm);
        foreach (VirtualMachine vm in survivors) pages[vm].Rewrite(vm, buffer);
        (long rss, long allocated) without = Measure(gmm);

        GmmStatistics before = gmm.Statistics;
        CompactionChunkMap? mapBefore = Map(gmm, survivors, "before compaction");
        CompactionChunkMap? mapAfter = null;
        CompactionResult? compaction = null;
        long rssWith = without.rss;
        TimeSpan cpu = TimeSpan.Zero;
        if (Compact)
        {
            TimeSpan cpuStart = ThreadCpuTime.Now();
            compaction = gmm.Compactor.Run();
            cpu = ThreadCpuTime.Now() - cpuStart;
            rssWith = Measure(gmm).Rss;
            mapAfter = Map(gmm, survivors, "after compaction");
        }
        GmmStatistics after = gmm.Statistics;
        foreach (VirtualMachine vm in survivors) pages[vm].Check(vm);
        gmm.Verify();
        return new CompactionOutcome
        {
            FreedBytes = (full.allocated - without.allocated) << Paging.PageShift,
            DestroyedBytes = (full.allocated - shutdown.allocated) << Paging.PageShift,
            RssFull = full.rss,
            RssAfterShutdown = shutdown.rss,
            RssWithout = without.rss,
            RssWith = rssWith,
            ChunksBefore = before.Chunks,
            ExcessChunksBefore = before.Chunks - before.SpareChunks - before.MinimumChunks,
            ChunksAfter = after.Chunks,
            MinimumChunks = after.MinimumChunks,
            Compaction = compaction,
            CompactionCpu = cpu,
            ChunkMapBefore = mapBefore,
            ChunkMapAfter = mapAfter,
        };
    }

    private static void FuseUntilConverged(GlobalMemoryManager gmm)
    {
        for (int pass = 0; pass < 20; pass++)
            if (gmm.Fusion.RunPass().Converged) return;
        throw new InvalidOperationException("page fusion did not converge in 20 passes");
    }

    private CompactionChunkMap? Map(GlobalMemoryManager gmm, VirtualMachine[] survivors, string when)
    {
        if (!KeepChunkMaps) return null;
        var names = survivors.ToDictionary(vm => vm.Handle, vm => vm.Name);
        GmmStatistics s = gmm.Statistics;
        string title = $"{s.Chunks} chunks {when} ({s.MinimumChunks} needed by {s.AllocatedPages:N0} pages in use)";
        return new CompactionChunkMap(title, gmm.Pages.GetChunkMap(), names);
    }

    /// <summary>RSS after a full garbage collection (so the figure is about guest memory, not garbage), and the Gmm's allocated pages.</summary>
    private static (long Rss, long Allocated) Measure(GlobalMemoryManager gmm)
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        return (HostRss.ReadBytes(), gmm.Statistics.AllocatedPages);
    }
}
