using GuestMemory.Balloon;
using GuestMemory.Gmm;

namespace GuestMemory.Tests.Diagnostics;

/// <summary>
/// The meter's instruments, read the way a listener reads them (<see cref="Microsoft.Extensions.Diagnostics.Metrics.Testing.MetricCollector{T}"/>),
/// report the manager's real figures after a scenario.
/// </summary>
public sealed class MetricsTests
{
    [Fact]
    public void Instruments_report_what_the_manager_did()
    {
        using var gmm = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = 64L << 20, Name = "metrics-scenario" });
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

        Dictionary<string, long> values = MeterReading.ReadAll(gmm.Metrics.Meter, "metrics-scenario");
        GmmStatistics s = gmm.Statistics;

        Assert.Equal(32, values["gmm.fusion.page.merged"]); // both guests' pages now use the shared ones
        Assert.Equal(16, values["gmm.page.count/shared"]);
        Assert.Equal(s.PrivatePages, values["gmm.page.count/private"]);
        Assert.Equal(s.Chunks * (long)Paging.PagesPerChunk, values["gmm.page.count/private"] + values["gmm.page.count/shared"] + values["gmm.page.count/free"]);
        Assert.Equal(s.Chunks, values["gmm.chunk.count/in_use"] + values["gmm.chunk.count/spare"]);
        Assert.Equal(s.DuplicatePages, values["gmm.page.duplicate"]);
        Assert.Equal(3, values["gmm.page.ballooned"]);
        Assert.Equal(s.ReservedPages, values["gmm.page.reserved"]);
        Assert.Equal(2, values["gmm.vm.count"]);
        Assert.Equal(64L << 20, values["gmm.host.memory.limit"]);
        Assert.Equal(1, values["gmm.balloon.steps"]);
        Assert.Equal(16, values["gmm.vm.page.count/shared/a"]);
        Assert.Equal(1, values["gmm.vm.page.count/private/b"]);
        Assert.Equal(3, values["gmm.vm.page.count/ballooned/b"]);
        Assert.Equal(2 * 2048 - 16 - 16 - 1 - 3, values["gmm.vm.page.count/zero/a"] + values["gmm.vm.page.count/zero/b"]);
        Assert.InRange(values["gmm.host.rss"], s.AllocatedPages * Paging.PageSize / 2, long.MaxValue);
        gmm.Verify();
    }

    [Fact]
    public void Compaction_reports_the_pages_it_moved_by_state()
    {
        using var gmm = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = 64L << 20 });
        using var vm = gmm.CreateVm(new VmOptions { Name = "a", RamSize = 8L << 20 });
        var page = new byte[Paging.PageSize];
        for (ulong p = 0; p < 1024; p++)
        {
            page[0] = (byte)(p + 1);
            vm.Memory.Write(p * Paging.PageSize, page);
        }
        vm.Memory.InflateBalloon(Enumerable.Range(0, 512).Select(i => (ulong)i * 2 * Paging.PageSize).ToArray()); // every other page: half-empty chunks
        gmm.Compactor.Run();

        Dictionary<string, long> values = MeterReading.ReadAll(gmm.Metrics.Meter, gmm.Name);

        Assert.True(values["gmm.compaction.page.moved/private"] > 0, "compaction moved no page");
        Assert.Equal(gmm.Compactor.Statistics.PrivatePagesMoved, values["gmm.compaction.page.moved/private"]);
        Assert.Equal(gmm.Compactor.Statistics.SharedPagesMoved, values["gmm.compaction.page.moved/shared"]);
        Assert.Equal(gmm.Statistics.FreedChunks, values["gmm.chunk.freed"]);
        gmm.Verify();
    }
}
