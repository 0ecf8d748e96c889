using GuestMemory.Gmm;
using GuestMemory.Phys;
using GuestMemory.Tests.Balloon.Support;
using static GuestMemory.Tests.Balloon.Support.BalloonHost;

namespace GuestMemory.Tests.Balloon;

/// <summary>
/// Reservations may exceed the host up to the configured ratio; beyond it, and for VMs that may not be
/// over-committed beyond the host itself, a reservation is declined with a typed error and nothing changes.
/// </summary>
public sealed class OvercommitPolicyTests
{
    /// <summary>What <see cref="GlobalMemoryManager.CreateVm"/> reserves for a VM of <paramref name="ramMib"/> MiB.</summary>
    private static long Reservation(long ramMib) => ramMib * PagesPerMib + HandyPages.Capacity;

    [Fact]
    public void Reservations_may_add_up_to_the_ratio_times_the_host_and_no_further()
    {
        using var host = new BalloonHost(hostMib: 64, overcommitRatio: 2);
        long limit = 2 * host.Manager.Statistics.MaxPages;
        host.Vm("a", ramMib: 60);
        host.Vm("b", ramMib: 60);
        long used = 2 * Reservation(60);
        long fits = (limit - used - HandyPages.Capacity) / PagesPerMib; // the largest VM that still fits, in MiB
        host.Vm("c", ramMib: fits);
        Assert.Equal(used + Reservation(fits), host.Manager.Statistics.ReservedPages);
        Assert.True(host.Manager.Statistics.ReservedPages > host.Manager.Statistics.MaxPages, "the host is over-committed");

        string before = host.Snapshot();
        var e = Assert.Throws<GmmException>(() => host.Vm("d", ramMib: 1));
        Assert.Equal(GmmError.ReservationDeclined, e.Error);
        Assert.Equal(before, host.Snapshot());
        Assert.Equal(3, host.Manager.Vms.Count);
        host.Manager.Verify();
    }

    [Fact]
    public void A_ratio_of_one_means_no_over_commitment_at_all()
    {
        using var host = new BalloonHost(hostMib: 32, overcommitRatio: 1);
        host.Vm("a", ramMib: 31);

        var e = Assert.Throws<GmmException>(() => host.Vm("b", ramMib: 1));
        Assert.Equal(GmmError.ReservationDeclined, e.Error);
    }

    [Fact]
    public void Vms_that_may_not_be_over_committed_must_fit_the_host_outright()
    {
        using var host = new BalloonHost(hostMib: 64, overcommitRatio: 4);
        host.Vm("fixed-1", ramMib: 40, policy: OvercommitPolicy.NoOvercommit);
        string before = host.Snapshot();

        var e = Assert.Throws<GmmException>(() => host.Vm("fixed-2", ramMib: 30, policy: OvercommitPolicy.NoOvercommit));
        Assert.Equal(GmmError.ReservationDeclined, e.Error);
        Assert.Equal(before, host.Snapshot());

        host.Vm("elastic", ramMib: 30); // the ratio still has room for a VM that may be over-committed
        host.Vm("fixed-3", ramMib: 20, policy: OvercommitPolicy.NoOvercommit); // 40 + 20 MiB plus handy pages fit in 64
        host.Manager.Verify();
    }

    [Fact]
    public void Growing_a_reservation_past_the_ratio_is_declined_and_shrinking_always_works()
    {
        using var host = new BalloonHost(hostMib: 16, overcommitRatio: 2);
        VirtualMachine vm = host.Vm("a", ramMib: 24);
        AccountPages reserved = vm.Accounts.Reserved;
        string before = host.Snapshot();

        var e = Assert.Throws<GmmException>(() => host.Manager.Pages.UpdateReservation(vm.Handle, reserved with { Base = reserved.Base + 16 * PagesPerMib }));
        Assert.Equal(GmmError.ReservationDeclined, e.Error);
        Assert.Equal(before, host.Snapshot());

        host.Manager.Pages.UpdateReservation(vm.Handle, reserved with { Base = reserved.Base - 8 * PagesPerMib });
        Assert.Equal(reserved.Base - 8 * PagesPerMib, vm.Accounts.Reserved.Base);
    }

    [Fact]
    public void A_destroyed_vm_gives_its_reservation_back()
    {
        using var host = new BalloonHost(hostMib: 16, overcommitRatio: 2);
        VirtualMachine big = host.Vm("big", ramMib: 24);
        Assert.Throws<GmmException>(() => host.Vm("late", ramMib: 12));

        big.Dispose();

        host.Vm("late", ramMib: 12);
        Assert.Equal(Reservation(12), host.Manager.Statistics.ReservedPages);
    }

    [Fact]
    public void Over_committed_vms_share_the_host_while_what_they_use_fits()
    {
        using var host = new BalloonHost(hostMib: 8, overcommitRatio: 4);
        VirtualMachine a = host.Vm("a", ramMib: 8);
        VirtualMachine b = host.Vm("b", ramMib: 8);
        Fill(a, 0, 4 * PagesPerMib, seed: 1);
        Fill(b, 0, 2 * PagesPerMib, seed: 2);

        Assert.True(Holds(a, 0, 4 * PagesPerMib, seed: 1));
        Assert.True(Holds(b, 0, 2 * PagesPerMib, seed: 2));
        Assert.Equal(2 * Reservation(8), host.Manager.Statistics.ReservedPages);
        host.Manager.Verify();
    }
}
