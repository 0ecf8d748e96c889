using GuestMemory.Gmm;
using GuestMemory.State;

namespace GuestMemory.Tests.State;

/// <summary>
/// A restore the host cannot or may not back is refused before anything changes (seed: the non-zero
/// count is allocated up front so the Gmm can refuse), as is a restore over a mapped page.
/// </summary>
public sealed class RestoreRefusedTests
{
    private const int DataPages = 400; // more than a target holding ~300 pages of its ~650 reserved has headroom for

    [Fact]
    public void AnOvercommittedHostRefusesBeforeAnyPageIsTaken()
    {
        byte[] state = StateTestHost.StateWithDataPages(DataPages);
        using var host = new StateTestHost(hostMib: 4); // 1,024 host pages
        VirtualMachine filler = host.Gmm.CreateVm(StateTestHost.Options("filler", ramPages: 1024));
        filler.Memory.Write(0, StateTestHost.Bytes(500 * Paging.PageSize, seed: 4));
        VirtualMachine target = host.NewVm("target");
        GuestContent.FillOther(target, seed: 5);
        VmSnapshot before = VmSnapshot.Take(host.Gmm, target);
        Assert.True(before.Host.MaxPages - before.Host.AllocatedPages < DataPages);

        GmmException e = Assert.Throws<GmmException>(() => StateTestHost.Restore(target, state));

        Assert.Equal(GmmError.HitGlobalLimit, e.Error);
        before.AssertUnchanged(VmSnapshot.Take(host.Gmm, target), exactHost: true);
        host.Gmm.Verify();
    }

    [Fact]
    public void AReservationTheHostWillNotRaiseRefusesBeforeAnyPageIsTaken()
    {
        byte[] state = StateTestHost.StateWithDataPages(DataPages);
        using var host = new StateTestHost(hostMib: 32, overcommitRatio: 1.0); // reservations may not exceed 8,192 pages
        VirtualMachine target = host.NewVm("target");
        GuestContent.FillOther(target, seed: 6); // about 170 pages of data, 4 of ROM, 128 handy pages
        long reserved = host.Gmm.Statistics.ReservedPages;
        host.Gmm.CreateVm(StateTestHost.Options("filler", ramPages: (int)(8192 - reserved - HandyPagesPerVm - 10)));
        VmSnapshot before = VmSnapshot.Take(host.Gmm, target);

        GmmException e = Assert.Throws<GmmException>(() => StateTestHost.Restore(target, state));

        Assert.Equal(GmmError.ReservationDeclined, e.Error);
        before.AssertUnchanged(VmSnapshot.Take(host.Gmm, target), exactHost: true);
        host.Gmm.Verify();
    }

    [Fact]
    public void AMappedPageRefusesTheRestore()
    {
        using var host = new StateTestHost();
        (_, byte[] state) = host.SavedMixedVm("source", seed: 1);
        VirtualMachine target = host.NewVm("target");
        GuestContent.FillOther(target, seed: 7);
        using (target.Memory.MapForRead(GuestContent.Address(3)))
        {
            VmSnapshot before = VmSnapshot.Take(host.Gmm, target);
            GmmException e = Assert.Throws<GmmException>(() => StateTestHost.Restore(target, state));
            Assert.Equal(GmmError.PageLocked, e.Error);
            before.AssertUnchanged(VmSnapshot.Take(host.Gmm, target));
        }
        host.Gmm.Verify();
    }

    [Fact]
    public void ADestroyedVmRefusesTheRestore()
    {
        using var host = new StateTestHost();
        (_, byte[] state) = host.SavedMixedVm("source", seed: 1);
        VirtualMachine target = host.NewVm("target");
        host.Gmm.DestroyVm(target);

        Assert.Equal(GmmError.VmDestroyed, Assert.Throws<GmmException>(() => StateTestHost.Restore(target, state)).Error);
        host.Gmm.Verify();
    }

    private const int HandyPagesPerVm = 128;
}
