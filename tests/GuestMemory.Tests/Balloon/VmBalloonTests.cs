using GuestMemory.Balloon;
using GuestMemory.Tests.Balloon.Support;

namespace GuestMemory.Tests.Balloon;

/// <summary>The host side of one VM's balloon: limits from the VM's options, targets to the driver and the Gmm, settling.</summary>
public sealed class VmBalloonTests
{
    [Fact]
    public void Minimum_and_maximum_ram_become_the_range_of_balloon_sizes()
    {
        using var host = new BalloonHost();
        VirtualMachine vm = host.Vm("a", ramMib: 8, minimumMib: 2, maximumMib: 6, weight: 300);

        Assert.Equal(2048, vm.Balloon.RamPages);
        Assert.Equal(512, vm.Balloon.MinimumTargetPages);   // at most 6 MiB usable: 2 MiB always ballooned
        Assert.Equal(1536, vm.Balloon.MaximumTargetPages);  // at least 2 MiB usable
        Assert.Equal(512, vm.Balloon.TargetPages);
        Assert.Equal(300, vm.Balloon.Weight);
        Assert.False(vm.Balloon.IsSettled, "the new VM's balloon is empty, below its target");
    }

    [Fact]
    public void Without_limits_any_balloon_from_empty_to_all_of_ram_is_allowed()
    {
        using var host = new BalloonHost();
        VirtualMachine vm = host.Vm("a", ramMib: 4);

        vm.Balloon.SetTarget(1024);
        vm.Balloon.SetTarget(0);

        Assert.Equal((0, 1024), (vm.Balloon.MinimumTargetPages, vm.Balloon.MaximumTargetPages));
        Assert.True(vm.Balloon.IsSettled);
    }

    [Fact]
    public void A_target_goes_to_the_driver_and_to_the_gmm_as_a_request()
    {
        using var host = new BalloonHost();
        VirtualMachine vm = host.Vm("a");
        var driver = new FakeBalloonDriver();
        vm.Balloon.SetTarget(100);

        vm.Balloon.Attach(driver);
        vm.Balloon.SetTarget(300);

        Assert.Equal([100, 300], driver.Targets);
        Assert.Equal(300, vm.Balloon.TargetPages);
        Assert.Equal(300, vm.Accounts.RequestedBalloonPages);
        Assert.Same(driver, vm.Balloon.Driver);
    }

    [Fact]
    public void Settling_is_timed_from_the_first_unmet_target_to_the_balloon_at_target()
    {
        using var host = new BalloonHost();
        VirtualMachine vm = host.Vm("a");
        var driver = new FakeBalloonDriver();
        vm.Balloon.Attach(driver);
        var waits = new List<TimeSpan>();
        vm.Balloon.Settled += (_, waited) => waits.Add(waited);

        vm.Balloon.SetTarget(200);
        vm.Memory.InflateBalloon(BalloonHost.Addresses(0, 100));
        driver.Status = new BalloonDriverStatus(100, 0, 0, 0);
        vm.Balloon.SetTarget(150); // a new target while unsettled does not restart the clock
        Assert.Empty(waits);
        Thread.Sleep(20);
        vm.Memory.InflateBalloon(BalloonHost.Addresses(100, 50));
        driver.Status = new BalloonDriverStatus(150, 0, 0, 0);

        TimeSpan waited = Assert.Single(waits);
        Assert.True(waited >= TimeSpan.FromMilliseconds(20), $"waited {waited}");
        Assert.True(vm.Balloon.IsSettled);
        Assert.Equal(1, vm.Balloon.SettledTargets);
    }

    [Fact]
    public void A_detached_driver_hears_nothing_more_and_another_may_attach()
    {
        using var host = new BalloonHost();
        VirtualMachine vm = host.Vm("a");
        var first = new FakeBalloonDriver();
        var second = new FakeBalloonDriver();
        vm.Balloon.Attach(first);

        vm.Balloon.Detach();
        vm.Balloon.SetTarget(64);
        vm.Balloon.Attach(second);

        Assert.Equal([0], first.Targets);
        Assert.Equal([64], second.Targets);
    }
}
