using System.Diagnostics;
using GuestMemory.Fusion;

namespace GuestMemory.Tests.Fusion;

/// <summary>The background scanner: start, stop, options, and the pages-per-second budget.</summary>
public sealed class BudgetTests
{
    [Fact]
    public void The_scanner_does_no_more_pages_per_second_than_allowed()
    {
        using var world = new FusionWorld();
        VirtualMachine vm = world.AddVm(4096);
        for (int p = 0; p < 4096; p += 64) vm.Memory.Write(FusionWorld.Address(p), new byte[64 * Paging.PageSize]); // 4096 Allocated pages
        const int pagesPerSecond = 200; // a 512-page segment then needs 2.5 s: longer than any single sleep

        var clock = Stopwatch.StartNew();
        world.Gmm.Fusion.Start(new FusionOptions { PagesPerSecond = pagesPerSecond, CpuFraction = 1, PassInterval = TimeSpan.Zero, IdlePriority = false });
        Thread.Sleep(2000);
        world.Gmm.Fusion.Stop();
        double seconds = clock.Elapsed.TotalSeconds;

        FusionStatistics s = world.Gmm.Fusion.Statistics;
        long work = s.PagesArmed + s.PagesScanned;
        // Generous: one 512-page segment may run ahead of the budget before the scanner sleeps.
        Assert.InRange(work, 1, (long)(pagesPerSecond * seconds) + 512);
        world.Verify();
    }

    [Fact]
    public void Start_twice_is_refused_and_stop_is_idempotent()
    {
        using var world = new FusionWorld();
        world.AddVm(16);
        world.Gmm.Fusion.Start(new FusionOptions { PassInterval = TimeSpan.FromMilliseconds(10) });
        Assert.True(world.Gmm.Fusion.IsRunning);
        Assert.Throws<InvalidOperationException>(() => world.Gmm.Fusion.Start());
        world.Gmm.Fusion.Stop();
        world.Gmm.Fusion.Stop();
        Assert.False(world.Gmm.Fusion.IsRunning);
        world.Verify();
    }

    [Theory]
    [InlineData(-1, 0.5, 0)]
    [InlineData(0, 0.0, 0)]
    [InlineData(0, 1.5, 0)]
    [InlineData(0, double.NaN, 0)]
    [InlineData(0, 0.5, -1)]
    public void Bad_options_are_refused_with_a_typed_error(int pagesPerSecond, double cpuFraction, int intervalMs)
    {
        using var world = new FusionWorld();
        var options = new FusionOptions { PagesPerSecond = pagesPerSecond, CpuFraction = cpuFraction, PassInterval = TimeSpan.FromMilliseconds(intervalMs) };
        GmmException e = Assert.Throws<GmmException>(() => world.Gmm.Fusion.Start(options));
        Assert.Equal(GmmError.InvalidArgument, e.Error);
        Assert.False(world.Gmm.Fusion.IsRunning);
    }
}
