using System.Diagnostics.Metrics;
using GuestMemory.Balloon;
using GuestMemory.Gmm;
using GuestMemory.Host;
using GuestMemory.Phys;

namespace GuestMemory.Diagnostics;

public sealed partial class GuestMemoryMetrics
{
    /// <summary>The attribute that names a VM (<see cref="VmOptions.Name"/>).</summary>
    internal const string VmAttribute = "gmm.vm.name";

    /// <summary>The attribute that says which state a page is in.</summary>
    internal const string PageStateAttribute = "gmm.page.state";

    /// <summary>The attribute that says whether a committed chunk holds a page in use.</summary>
    internal const string ChunkStateAttribute = "gmm.chunk.state";

    /// <summary>
    /// The instruments. Additive counts (their sum over managers, VMs or states means something) are
    /// up-down counters; totals since start are counters; the process's RSS, the same for every manager
    /// of the process, is the one gauge.
    /// </summary>
    private void CreateInstruments(GlobalMemoryManager manager)
    {
        PageManager gmm = manager.Pages;
        _meter.CreateObservableGauge("gmm.host.rss", () => Observe(HostRss.ReadBytes), "By",
            "Resident memory of the whole process (real RSS); the same for every manager of a process: do not add it up");
        UpDown("gmm.host.memory.limit", "By", "Host memory the manager may use for guest pages", () => gmm.MaxPages * Paging.PageSize);
        _meter.CreateObservableUpDownCounter("gmm.chunk.count", () => ObserveStates(ChunkStateAttribute, () => ChunkStates(gmm)), "{chunk}",
            "Committed 2 MiB chunks: in_use (holding a page in use) or spare (empty, kept for reuse)");
        UpDown("gmm.chunk.minimum", "{chunk}", "Chunks the live pages would need if packed: the in_use chunks beyond it are the fragmentation compaction can undo",
            () => gmm.GetStatistics().MinimumChunks);
        Counter("gmm.chunk.freed", "{chunk}", "Chunks given back to the host since start", () => gmm.GetStatistics().FreedChunks);
        _meter.CreateObservableUpDownCounter("gmm.page.count", () => ObserveStates(PageStateAttribute, () => HostPageStates(gmm)), "{page}",
            "Host pages in committed chunks: private, shared (each distinct shared page once) or free");
        UpDown("gmm.page.duplicate", "{page}", "Guest pages that cost no host page thanks to sharing", () => gmm.GetStatistics().DuplicatePages);
        UpDown("gmm.page.ballooned", "{page}", "Pages the guests have given to their balloons", () => gmm.GetStatistics().BalloonedPages);
        UpDown("gmm.page.reserved", "{page}", "Pages reserved by all VMs (the promise)", () => gmm.GetStatistics().ReservedPages);
        UpDown("gmm.vm.count", "{vm}", "Live VMs", () => gmm.GetStatistics().Vms);
        _meter.CreateObservableUpDownCounter("gmm.vm.page.count", () => VmPages(manager), "{page}",
            "Guest pages of each VM (gmm.vm.name) by state: zero, private, shared or ballooned");
        Counter("gmm.fusion.page.scanned", "{page}", "Pages hashed or zero-checked by page fusion", () => manager.Fusion.Statistics.PagesScanned);
        Counter("gmm.fusion.page.merged", "{page}", "Guest pages merged into shared pages", () => manager.Fusion.Statistics.PagesMerged);
        Counter("gmm.fusion.page.zeroed", "{page}", "Guest pages returned to the zero page", () => manager.Fusion.Statistics.ZeroPagesReclaimed);
        Counter("gmm.fusion.page.unshared", "{page}", "Guest pages a write took out of sharing (copy-on-write)", () => manager.Fusion.Statistics.CopyOnWriteBreaks);
        _meter.CreateObservableCounter("gmm.compaction.page.moved", () => ObserveStates(PageStateAttribute, () => MovedPages(manager)), "{page}",
            "Pages moved by compaction: private or shared");
        Counter("gmm.balloon.steps", "{step}", "Balloon controller steps (of the current controller)", () => BalloonTotals(manager).Steps);
        Counter("gmm.balloon.decisions", "{step}", "Balloon controller steps that changed a target", () => BalloonTotals(manager).Decisions);
        Counter("gmm.balloon.page.requested", "{page}", "Pages asked for by inflate requests", () => BalloonTotals(manager).PagesRequested);
        Counter("gmm.balloon.page.returned", "{page}", "Pages given back to guests by deflate requests", () => BalloonTotals(manager).PagesReturned);
        Counter("gmm.balloon.shortfalls", "{step}", "Steps in which the host needed more than every guest could give", () => BalloonTotals(manager).ShortfallSteps);
    }

    private void UpDown(string name, string unit, string description, Func<long> read) =>
        _meter.CreateObservableUpDownCounter(name, () => Observe(read), unit, description);

    private void Counter(string name, string unit, string description, Func<long> read) =>
        _meter.CreateObservableCounter(name, () => Observe(read), unit, description);

    private static IEnumerable<(string, long)> ChunkStates(PageManager gmm)
    {
        GmmStatistics s = gmm.GetStatistics();
        return [("in_use", s.ChunksInUse), ("spare", s.SpareChunks)];
    }

    private static IEnumerable<(string, long)> HostPageStates(PageManager gmm)
    {
        GmmStatistics s = gmm.GetStatistics();
        return [("private", s.PrivatePages), ("shared", s.SharedPages), ("free", s.FreePages)];
    }

    private static IEnumerable<(string, long)> MovedPages(GlobalMemoryManager manager)
    {
        var s = manager.Compactor.Statistics;
        return [("private", s.PrivatePagesMoved), ("shared", s.SharedPagesMoved)];
    }

    /// <summary>The balloon controller's totals, zero while the manager has none.</summary>
    private static BalloonControllerCounters BalloonTotals(GlobalMemoryManager manager) =>
        manager.BalloonController?.Counters ?? default;

    private IEnumerable<Measurement<long>> VmPages(GlobalMemoryManager manager)
    {
        if (_disposed) return [];
        var measurements = new List<Measurement<long>>();
        foreach (VirtualMachine vm in manager.Vms)
        {
            GuestMemoryStatistics s;
            try { s = vm.Memory.GetStatistics(); }
            catch (GmmException) { continue; } // destroyed meanwhile
            var name = new KeyValuePair<string, object?>(VmAttribute, vm.Name);
            measurements.Add(new(s.ZeroPages, _manager, name, new(PageStateAttribute, "zero")));
            measurements.Add(new(s.AllocatedPages + s.WriteMonitoredPages, _manager, name, new(PageStateAttribute, "private")));
            measurements.Add(new(s.SharedPages, _manager, name, new(PageStateAttribute, "shared")));
            measurements.Add(new(s.BalloonedPages, _manager, name, new(PageStateAttribute, "ballooned")));
        }
        return measurements;
    }
}
