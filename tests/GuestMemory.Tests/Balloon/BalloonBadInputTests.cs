using GuestMemory.Balloon;
using GuestMemory.Gmm;
using GuestMemory.Phys;
using GuestMemory.Tests.Balloon.Support;
using static GuestMemory.Tests.Balloon.Support.BalloonHost;

namespace GuestMemory.Tests.Balloon;

/// <summary>Every bad balloon input fails with a typed error and leaves all state as it was.</summary>
public sealed class BalloonBadInputTests
{
    [Fact]
    public void Deflating_more_than_was_inflated_is_refused()
    {
        using var host = new BalloonHost();
        VirtualMachine vm = host.Vm("a");
        vm.Memory.InflateBalloon(Addresses(0, 10));

        AssertRefused(host, GmmError.AttemptToDeflateTooMuch, () => vm.Memory.DeflateBalloon(Addresses(0, 11)));
        AssertRefused(host, GmmError.AttemptToDeflateTooMuch, () => vm.Memory.DeflateBalloon([Address(2), Address(2)]));
        AssertRefused(host, GmmError.AttemptToDeflateTooMuch, () => host.Manager.Pages.Port.DeflatedBalloon(vm.Handle, 11));
    }

    [Fact]
    public void Inflating_a_page_that_is_not_the_vms_ram_is_refused()
    {
        using var host = new BalloonHost();
        VirtualMachine vm = host.Vm("a", ramMib: 4);
        vm.Memory.RegisterRom(0x100_0000, new byte[Paging.PageSize], RomWriteMode.Ignore, "bios");
        vm.Memory.RegisterMmio(0x200_0000, Paging.PageSize, new NullMmio(), "device");

        AssertRefused(host, GmmError.AddressNotMapped, () => vm.Memory.InflateBalloon([Address(1024)]));
        AssertRefused(host, GmmError.NotRam, () => vm.Memory.InflateBalloon([0x100_0000]));
        AssertRefused(host, GmmError.NotRam, () => vm.Memory.InflateBalloon([Address(0), 0x200_0000]));
        AssertRefused(host, GmmError.UnalignedAddress, () => vm.Memory.InflateBalloon([Address(0), 0x1001]));
        AssertRefused(host, GmmError.AddressNotMapped, () => vm.Memory.DeflateBalloon([Address(5000)]));
    }

    [Fact]
    public void Inflating_a_page_twice_or_a_mapped_page_is_refused()
    {
        using var host = new BalloonHost();
        VirtualMachine vm = host.Vm("a");
        Fill(vm, 0, 8, seed: 4);
        vm.Memory.InflateBalloon(Addresses(0, 2));

        AssertRefused(host, GmmError.PageBallooned, () => vm.Memory.InflateBalloon(Addresses(1, 3)));
        AssertRefused(host, GmmError.PageBallooned, () => vm.Memory.InflateBalloon([Address(5), Address(5)]));
        using (vm.Memory.MapForWrite(Address(6)))
            AssertRefused(host, GmmError.PageLocked, () => vm.Memory.InflateBalloon(Addresses(5, 2)));
        Assert.True(Holds(vm, 2, 6, seed: 4));
    }

    [Fact]
    public void A_target_below_the_minimum_or_above_the_maximum_ram_is_refused()
    {
        using var host = new BalloonHost();
        VirtualMachine vm = host.Vm("a", ramMib: 8, minimumMib: 2, maximumMib: 6);
        var driver = new FakeBalloonDriver();
        vm.Balloon.Attach(driver);
        vm.Balloon.SetTarget(1000);

        // A balloon of 1537 pages leaves 2 MiB - 4 KiB: below the minimum; 511 leaves 6 MiB + 4 KiB: above the maximum.
        AssertRefused(host, GmmError.BalloonTargetOutOfRange, () => vm.Balloon.SetTarget(1537));
        AssertRefused(host, GmmError.BalloonTargetOutOfRange, () => vm.Balloon.SetTarget(511));
        AssertRefused(host, GmmError.BalloonTargetOutOfRange, () => vm.Balloon.SetTarget(-1));
        Assert.Equal([512, 1000], driver.Targets);
        Assert.Equal(1000, vm.Accounts.RequestedBalloonPages);
    }

    [Fact]
    public void The_gmm_refuses_a_balloon_request_beyond_the_reservation()
    {
        using var host = new BalloonHost();
        VirtualMachine vm = host.Vm("a");
        long reserved = vm.Accounts.Reserved.Base;

        AssertRefused(host, GmmError.InvalidArgument, () => host.Manager.Pages.RequestBalloon(vm.Handle, reserved + 1));
        AssertRefused(host, GmmError.InvalidArgument, () => host.Manager.Pages.RequestBalloon(vm.Handle, -1));
    }

    [Fact]
    public void A_reservation_over_policy_is_declined_and_no_vm_is_created()
    {
        using var host = new BalloonHost(hostMib: 16, overcommitRatio: 2);
        host.Vm("a", ramMib: 20);

        AssertRefused(host, GmmError.ReservationDeclined, () => host.Vm("b", ramMib: 12));
        Assert.Single(host.Manager.Vms);
    }

    [Theory]
    [InlineData(4, 5, null, 100)]   // minimum above RAM
    [InlineData(4, 3, 2L, 100)]     // minimum above maximum
    [InlineData(4, 0, 5L, 100)]     // maximum above RAM
    [InlineData(4, 0, 0L, 100)]     // no memory at all
    [InlineData(4, 0, null, 0)]     // weight out of range
    [InlineData(4, 0, null, 10_001)]
    public void Bad_balloon_limits_are_refused_when_the_vm_is_created(long ramMib, long minimumMib, long? maximumMib, int weight)
    {
        using var host = new BalloonHost();

        AssertRefused(host, GmmError.InvalidArgument, () => host.Vm("a", ramMib, minimumMib: minimumMib, maximumMib: maximumMib, weight: weight));
        AssertRefused(host, GmmError.InvalidArgument, () => host.Manager.CreateVm(new VmOptions { Name = "b", RamSize = 4 * Mib, MinimumRam = 100 }));
        Assert.Empty(host.Manager.Vms);
    }

    [Fact]
    public void A_second_driver_or_controller_is_refused()
    {
        using var host = new BalloonHost();
        VirtualMachine vm = host.Vm("a");
        vm.Balloon.Attach(new FakeBalloonDriver());
        using var controller = new BalloonController(host.Manager, new BalloonControllerOptions { HostBudgetBytes = 1L << 30 });

        AssertRefused(host, GmmError.InvalidArgument, () => vm.Balloon.Attach(new FakeBalloonDriver()));
        AssertRefused(host, GmmError.InvalidArgument, () => _ = new BalloonController(host.Manager, new BalloonControllerOptions { HostBudgetBytes = 1L << 30 }));
        Assert.Same(controller, host.Manager.BalloonController);
    }

    [Theory]
    [InlineData(1L << 20, 50, 0.75)]         // budget below one chunk
    [InlineData(1L << 30, 0, 0.75)]          // no period
    [InlineData(1L << 30, 50, 1.0)]          // idle tax of 100%
    [InlineData(1L << 30, 50, -0.1)]
    public void Bad_controller_options_are_refused(long budget, int periodMs, double idleTax)
    {
        using var host = new BalloonHost();
        var options = new BalloonControllerOptions { HostBudgetBytes = budget, Period = TimeSpan.FromMilliseconds(periodMs), IdleTaxRate = idleTax };

        AssertRefused(host, GmmError.InvalidArgument, () => _ = new BalloonController(host.Manager, options));
        Assert.Null(host.Manager.BalloonController);
    }

    [Fact]
    public void A_destroyed_vm_takes_no_target()
    {
        using var host = new BalloonHost();
        VirtualMachine vm = host.Vm("a");
        host.Vm("b");
        vm.Dispose();

        AssertRefused(host, GmmError.VmDestroyed, () => vm.Balloon.SetTarget(10));
    }

    private static void AssertRefused(BalloonHost host, GmmError error, Action action)
    {
        string before = host.Snapshot();
        var e = Assert.Throws<GmmException>(action);
        Assert.Equal(error, e.Error);
        Assert.Equal(before, host.Snapshot());
        host.Manager.Verify();
    }

    private sealed class NullMmio : IMmioHandler
    {
        public void Read(ulong offset, Span<byte> destination) => destination.Clear();

        public void Write(ulong offset, ReadOnlySpan<byte> source) { }
    }
}
