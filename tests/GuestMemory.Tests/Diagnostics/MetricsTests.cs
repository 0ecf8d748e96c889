using System.Diagnostics.Metrics;
using GuestMemory.Balloon;
using GuestMemory.Gmm;
using GuestMemory.Host;

namespace GuestMemory.Tests.Diagnostics;

/// <summary>
/// The meter's instruments, read the way <c>dotnet-counters</c> reads them (a <see cref="MeterListener"/>),
/// report the manager's real figures after a scenario.
/// </summary>
public sealed class MetricsTests
{
    [Fact]
    public void Instruments_report_what_the_manager_did()
    {
        using var gmm = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = 64L << 20 });
        using var a = gmm.CreateVm(new VmOptions { Name = "a", RamSize = 8L << 20 });
        using var b = gmm.CreateVm(new VmOptions { Name = "b", RamSize = 8L << 20 });
        byte[] content = new byte[16 * Paging.PageSize];
        new Random(5).NextBytes(content);
        a.Memory.Write(0, content);
        b.Memory.Write(0, content);
        b.Memory.Write(0x10_0000, new byte[] { 1 });
        gmm.Fusion.RunPass();
        gmm.Fusion.RunPass();
        b.Memory.InflateBalloon([0x20_0000, 0x20_1000, 0x20_2000]);
        using var controller = new BalloonController(gmm, new BalloonControllerOptions { HostBudgetBytes = 1L << 30 });
        controller.Step();

        Dictionary<string, long> values = Read(gmm);
        GmmStatistics s = gmm.Statistics;

        Assert.Equal(32, values["gmm.fusion.pages.merged"]); // both guests' pages now use the shared ones
        Assert.Equal(16, values["gmm.pages.shared"]);
        Assert.Equal(s.DuplicatePages, values["gmm.pages.duplicate"]);
        Assert.Equal(3, values["gmm.pages.ballooned"]);
        Assert.Equal(s.AllocatedPages, values["gmm.pages.allocated"]);
        Assert.Equal(2, values["gmm.vms"]);
        Assert.Equal(1, values["gmm.balloon.steps"]);
        Assert.Equal(16, values["gmm.vm.pages/a/shared"]);
        Assert.Equal(1, values["gmm.vm.pages/b/private"]);
        Assert.Equal(3, values["gmm.vm.pages/b/ballooned"]);
        Assert.Equal(2 * 2048 - 16 - 16 - 1 - 3, values["gmm.vm.pages/a/zero"] + values["gmm.vm.pages/b/zero"]);
        Assert.InRange(values["gmm.host.rss"], s.AllocatedPages * Paging.PageSize / 2, long.MaxValue);
        gmm.Verify();
    }

    /// <summary>Every instrument of this manager's meter, once; per-VM gauges keyed name/vm/state.</summary>
    private static Dictionary<string, long> Read(GlobalMemoryManager gmm)
    {
        var values = new Dictionary<string, long>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter == gmm.Metrics.Meter) l.EnableMeasurementEvents(instrument);
            },
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            string key = instrument.Name;
            foreach (KeyValuePair<string, object?> tag in tags) key += "/" + tag.Value;
            values[key] = value;
        });
        listener.Start();
        listener.RecordObservableInstruments();
        return values;
    }
}
