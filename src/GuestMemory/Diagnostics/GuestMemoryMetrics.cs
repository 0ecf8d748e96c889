using System.Diagnostics.Metrics;
using GuestMemory.Gmm;
using GuestMemory.Host;
using GuestMemory.Phys;

namespace GuestMemory.Diagnostics;

/// <summary>
/// The manager's figures as <see cref="System.Diagnostics.Metrics"/> instruments on the meter
/// <c>GuestMemory</c>, so <c>dotnet-counters monitor --counters GuestMemory -p PID</c> can watch a running
/// process. Every instrument is observable: it reads the statistics when a listener asks, so the hot
/// paths pay nothing. Names and units are listed in docs/metrics.md.
/// </summary>
public sealed class GuestMemoryMetrics : IDisposable
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "GuestMemory";

    private readonly Meter _meter = new(MeterName, "1.0");

    /// <summary>This manager's meter (several managers in one process each have their own).</summary>
    internal Meter Meter => _meter;

    internal GuestMemoryMetrics(GlobalMemoryManager manager)
    {
        PageManager gmm = manager.Pages;
        Gauge("gmm.host.rss", "By", "Resident memory of the process (real RSS)", () => HostRss.ReadBytes());
        Gauge("gmm.host.limit", "By", "Host memory the manager may use", () => gmm.MaxPages * Paging.PageSize);
        Gauge("gmm.host.chunks", "{chunk}", "Committed 2 MiB chunks", () => gmm.GetStatistics().Chunks);
        Gauge("gmm.host.chunks.minimum", "{chunk}", "Chunks the live pages need when packed", () => gmm.GetStatistics().MinimumChunks);
        Gauge("gmm.host.chunks.in_use", "{chunk}", "Chunks holding a page in use (committed, not spare): against the minimum, the fragmentation", () => gmm.GetStatistics().ChunksInUse);
        Gauge("gmm.pages.allocated", "{page}", "Host pages in use (private and shared)", () => gmm.GetStatistics().AllocatedPages);
        Gauge("gmm.pages.shared", "{page}", "Distinct shared host pages", () => gmm.GetStatistics().SharedPages);
        Gauge("gmm.pages.duplicate", "{page}", "Guest pages that cost no host page thanks to sharing", () => gmm.GetStatistics().DuplicatePages);
        Gauge("gmm.pages.ballooned", "{page}", "Pages in the guests' balloons", () => gmm.GetStatistics().BalloonedPages);
        Gauge("gmm.pages.reserved", "{page}", "Pages reserved by all VMs (the promise)", () => gmm.GetStatistics().ReservedPages);
        Gauge("gmm.vms", "{vm}", "Live VMs", () => gmm.GetStatistics().Vms);
        _meter.CreateObservableGauge("gmm.vm.pages", () => VmPages(manager), "{page}", "Guest pages per VM and state");
        Counter("gmm.fusion.pages.scanned", "{page}", "Pages hashed or zero-checked by page fusion", () => manager.Fusion.Statistics.PagesScanned);
        Counter("gmm.fusion.pages.merged", "{page}", "Guest pages merged into shared pages", () => manager.Fusion.Statistics.PagesMerged);
        Counter("gmm.fusion.pages.zeroed", "{page}", "Guest pages returned to the zero page", () => manager.Fusion.Statistics.ZeroPagesReclaimed);
        Counter("gmm.fusion.cow_breaks", "{page}", "Writes to shared pages that made a private copy", () => manager.Fusion.Statistics.CopyOnWriteBreaks);
        Counter("gmm.compaction.pages.moved", "{page}", "Pages moved by compaction", () => manager.Compactor.Statistics.PrivatePagesMoved + manager.Compactor.Statistics.SharedPagesMoved);
        Counter("gmm.balloon.steps", "{step}", "Balloon controller steps", () => BalloonTotals(manager).Steps);
        Counter("gmm.balloon.decisions", "{step}", "Balloon controller steps that changed a target", () => BalloonTotals(manager).Decisions);
        Counter("gmm.balloon.pages.requested", "{page}", "Pages asked for by inflate requests", () => BalloonTotals(manager).PagesRequested);
        Counter("gmm.balloon.pages.returned", "{page}", "Pages given back to guests by deflate requests", () => BalloonTotals(manager).PagesReturned);
        Counter("gmm.balloon.shortfalls", "{step}", "Steps in which the host needed more than every guest could give", () => BalloonTotals(manager).ShortfallSteps);
        Counter("gmm.host.chunks.freed", "{chunk}", "Chunks given back to the host", () => gmm.GetStatistics().FreedChunks);
    }

    /// <summary>The balloon controller's totals, zero while the manager has none.</summary>
    private static Balloon.BalloonControllerCounters BalloonTotals(GlobalMemoryManager manager) =>
        manager.BalloonController?.Counters ?? default;

    private void Gauge(string name, string unit, string description, Func<long> read) =>
        _meter.CreateObservableGauge(name, read, unit, description);

    private void Counter(string name, string unit, string description, Func<long> read) =>
        _meter.CreateObservableCounter(name, read, unit, description);

    private static IEnumerable<Measurement<long>> VmPages(GlobalMemoryManager manager)
    {
        var measurements = new List<Measurement<long>>();
        foreach (VirtualMachine vm in manager.Vms)
        {
            GuestMemoryStatistics s;
            try { s = vm.Memory.GetStatistics(); }
            catch (GmmException) { continue; } // destroyed meanwhile
            var name = new KeyValuePair<string, object?>("vm", vm.Name);
            measurements.Add(new(s.ZeroPages, name, new("state", "zero")));
            measurements.Add(new(s.AllocatedPages + s.WriteMonitoredPages, name, new("state", "private")));
            measurements.Add(new(s.SharedPages, name, new("state", "shared")));
            measurements.Add(new(s.BalloonedPages, name, new("state", "ballooned")));
        }
        return measurements;
    }

    /// <summary>Removes the instruments.</summary>
    public void Dispose() => _meter.Dispose();
}
