using System.Buffers.Binary;
using GuestMemory.Compaction;
using GuestMemory.Diagnostics;
using GuestMemory.Gmm;
using GuestMemory.Host;

namespace GuestMemory.Benchmarks;

/// <summary>
/// The fragmentation scenario of <c>gmm bench compaction</c>, run once: VMs start together and write
/// their RAM interleaved (page 0 of every VM, then page 1 of every VM, ...); half of them are destroyed,
/// the others give a random half of their pages to the balloon; then one compaction run. The process's
/// real RSS is read at each step.
/// </summary>
/// <remarks>
/// <para><b>Freed memory</b> is the pages the guests gave up (the destroyed VMs' written pages and the
/// ballooned pages) times 4 KiB; <b>returned</b> is the fall of the process's RSS from the moment every
/// VM was full. So a returned share of 100% means every freed page left the process.</para>
/// <para>VM destruction does not compact here (<see cref="GlobalMemoryManager.CompactOnVmShutdown"/> is
/// off), so "without compaction" is what the allocation policy and the free policy achieve alone.</para>
/// </remarks>
internal sealed class CompactionScenario
{
    /// <summary>VMs started together (half are destroyed).</summary>
    public int Vms { get; init; } = 4;

    /// <summary>Guest RAM of each VM, MiB.</summary>
    public int RamMib { get; init; } = 256;

    /// <summary>Seed of the ballooned pages' choice.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>The Gmm's free policy (<see cref="GmmOptions.ReturnFreedPagesAtOnce"/>).</summary>
    public bool ReturnFreedPagesAtOnce { get; init; }

    /// <summary>Whether to compact after the frees (false: only the figures before it).</summary>
    public bool Compact { get; init; } = true;

    /// <summary>Where to write chunks-before.svg and chunks-after.svg, or null.</summary>
    public string? SvgDirectory { get; init; }

    private long PagesPerVm => (long)RamMib << 20 >> Paging.PageShift;

    /// <summary>Runs the scenario; throws if any guest page lost its content or the consistency check fails.</summary>
    public CompactionOutcome Run()
    {
        using var gmm = new GlobalMemoryManager(new GmmOptions
        {
            HostMemoryLimit = Vms * ((long)RamMib << 20) + (64L << 20),
            ReturnFreedPagesAtOnce = ReturnFreedPagesAtOnce,
        });
        gmm.CompactOnVmShutdown = false;
        VirtualMachine[] vms = Enumerable.Range(0, Vms)
            .Select(i => gmm.CreateVm(new VmOptions { Name = $"vm-{i}", RamSize = (long)RamMib << 20, PageSharing = false }))
            .ToArray();
        VirtualMachine[] destroyed = vms.Where((_, i) => i % 2 == 1).ToArray();
        VirtualMachine[] survivors = vms.Where((_, i) => i % 2 == 0).ToArray();
        // Chosen before RSS is first read, so the bench's own bookkeeping is not counted as memory kept.
        var ballooned = survivors.ToDictionary(vm => vm, vm => RandomHalf(new Random(Seed + vm.Handle.Value)));
        WriteInterleaved(vms);
        long rssFull = SettledRss();

        foreach (VirtualMachine vm in destroyed) gmm.DestroyVm(vm);
        long rssAfterShutdown = SettledRss();
        foreach (VirtualMachine vm in survivors) Balloon(vm, ballooned[vm].Pages);
        long freedPages = destroyed.Length * PagesPerVm + ballooned.Values.Sum(b => (long)b.Pages.Length);

        long rssWithout = SettledRss();
        GmmStatistics before = gmm.Statistics;
        WriteMap(gmm, survivors, "chunks-before.svg", "before compaction");
        CompactionResult? compaction = null;
        long rssWith = rssWithout;
        TimeSpan cpu = TimeSpan.Zero;
        if (Compact)
        {
            TimeSpan cpuStart = ThreadCpuTime.Now();
            compaction = gmm.Compactor.Run();
            cpu = ThreadCpuTime.Now() - cpuStart;
            rssWith = SettledRss();
        }
        GmmStatistics after = gmm.Statistics;
        if (Compact) WriteMap(gmm, survivors, "chunks-after.svg", "after compaction");
        foreach (VirtualMachine vm in survivors) CheckContent(vm, ballooned[vm].IsChosen);
        gmm.Verify();
        return new CompactionOutcome
        {
            FreedBytes = freedPages << Paging.PageShift,
            DestroyedBytes = destroyed.Length * PagesPerVm << Paging.PageShift,
            RssFull = rssFull,
            RssAfterShutdown = rssAfterShutdown,
            RssWithout = rssWithout,
            RssWith = rssWith,
            ChunksBefore = before.Chunks,
            ChunksAfter = after.Chunks,
            MinimumChunks = after.MinimumChunks,
            Compaction = compaction,
            CompactionCpu = cpu,
        };
    }

    /// <summary>Page 0 of every VM, then page 1 of every VM, and so on: the VMs' first writes arrive interleaved.</summary>
    private void WriteInterleaved(VirtualMachine[] vms)
    {
        var page = new byte[Paging.PageSize];
        for (long p = 0; p < PagesPerVm; p++)
        {
            foreach (VirtualMachine vm in vms)
            {
                Fill(page, vm, p);
                vm.Memory.Write((ulong)p << Paging.PageShift, page);
            }
        }
    }

    /// <summary>A random half of the page numbers: the addresses to balloon, and a bitmap to check content against.</summary>
    private (ulong[] Pages, bool[] IsChosen) RandomHalf(Random random)
    {
        ulong[] order = new ulong[PagesPerVm];
        for (long p = 0; p < order.Length; p++) order[p] = (ulong)p << Paging.PageShift;
        random.Shuffle(order);
        ulong[] chosen = order[..(order.Length / 2)];
        var isChosen = new bool[PagesPerVm];
        foreach (ulong address in chosen) isChosen[address >> Paging.PageShift] = true;
        return (chosen, isChosen);
    }

    /// <summary>The guest gives these pages to its balloon, in batches as a balloon driver would.</summary>
    private static void Balloon(VirtualMachine vm, ulong[] addresses)
    {
        const int Batch = 4096;
        for (int start = 0; start < addresses.Length; start += Batch)
            vm.Memory.InflateBalloon(addresses.AsSpan(start, Math.Min(Batch, addresses.Length - start)));
    }

    /// <summary>Reads every page back: a ballooned page reads as zeros, every other holds what was written.</summary>
    private void CheckContent(VirtualMachine vm, bool[] ballooned)
    {
        var expected = new byte[Paging.PageSize];
        var actual = new byte[Paging.PageSize];
        for (long p = 0; p < PagesPerVm; p++)
        {
            if (ballooned[p]) Array.Clear(expected);
            else Fill(expected, vm, p);
            vm.Memory.Read((ulong)p << Paging.PageShift, actual);
            if (!actual.AsSpan().SequenceEqual(expected))
                throw new InvalidOperationException($"{vm} page {p} lost its content");
        }
    }

    /// <summary>A page unique to (VM, page): a tag, then a non-zero fill byte.</summary>
    private static void Fill(Span<byte> page, VirtualMachine vm, long number)
    {
        long tag = ((long)vm.Handle.Value << 40) | number;
        page.Fill((byte)(tag * 0x9E37 >> 8 | 1));
        BinaryPrimitives.WriteInt64LittleEndian(page, tag);
    }

    private void WriteMap(GlobalMemoryManager gmm, VirtualMachine[] survivors, string file, string when)
    {
        if (SvgDirectory == null) return;
        Directory.CreateDirectory(SvgDirectory);
        var names = survivors.ToDictionary(vm => vm.Handle, vm => vm.Name);
        GmmStatistics s = gmm.Statistics;
        string title = $"{s.Chunks} chunks {when} ({s.MinimumChunks} needed by {s.AllocatedPages:N0} pages in use)";
        File.WriteAllText(Path.Combine(SvgDirectory, file), ChunkMapSvg.Render(title, gmm.Pages.GetChunkMap(), names));
    }

    /// <summary>RSS after a full garbage collection, so the figure is about guest memory, not garbage.</summary>
    private static long SettledRss()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        return HostRss.ReadBytes();
    }
}

/// <summary>What one <see cref="CompactionScenario"/> run measured.</summary>
internal sealed record CompactionOutcome
{
    /// <summary>Memory the guests gave up: destroyed VMs' pages and ballooned pages, 4 KiB each.</summary>
    public long FreedBytes { get; init; }
    /// <summary>The part of <see cref="FreedBytes"/> that the destroyed VMs held.</summary>
    public long DestroyedBytes { get; init; }
    /// <summary>RSS with every VM's RAM written.</summary>
    public long RssFull { get; init; }
    /// <summary>RSS after the VMs were destroyed (before ballooning).</summary>
    public long RssAfterShutdown { get; init; }
    /// <summary>RSS after the frees, before compaction.</summary>
    public long RssWithout { get; init; }
    /// <summary>RSS after one compaction run (same as <see cref="RssWithout"/> when not compacted).</summary>
    public long RssWith { get; init; }
    /// <summary>Committed chunks before compaction.</summary>
    public int ChunksBefore { get; init; }
    /// <summary>Committed chunks after compaction.</summary>
    public int ChunksAfter { get; init; }
    /// <summary>Chunks the pages in use need when packed.</summary>
    public int MinimumChunks { get; init; }
    /// <summary>What the compaction run did, or null when it did not run.</summary>
    public CompactionResult? Compaction { get; init; }

    /// <summary>CPU time of the thread that ran the compaction (user and system).</summary>
    public TimeSpan CompactionCpu { get; init; }

    /// <summary>Share of the freed memory that left the process without compaction, %.</summary>
    public double ReturnedPctWithout => Pct(RssFull - RssWithout, FreedBytes);
    /// <summary>Share of the freed memory that left the process after one compaction run, %.</summary>
    public double ReturnedPctWith => Pct(RssFull - RssWith, FreedBytes);
    /// <summary>Share of the destroyed VMs' memory that left the process when they were destroyed, %.</summary>
    public double ReturnedPctAtShutdown => Pct(RssFull - RssAfterShutdown, DestroyedBytes);
    /// <summary>Pages the compaction run moved.</summary>
    public long MovedPages => Compaction is { } c ? c.PrivatePagesMoved + c.SharedPagesMoved : 0;
    /// <summary>Pages moved per second of the compaction run.</summary>
    public double MovedPagesPerSecond => Compaction is { } c && c.Elapsed > TimeSpan.Zero ? MovedPages / c.Elapsed.TotalSeconds : 0;

    /// <summary>Pages moved per second of the compacting thread's CPU time (less sensitive to a busy machine than wall time).</summary>
    public double MovedPagesPerCpuSecond => CompactionCpu > TimeSpan.Zero ? MovedPages / CompactionCpu.TotalSeconds : 0;

    private static double Pct(long part, long whole) => whole == 0 ? 0 : 100.0 * part / whole;
}
