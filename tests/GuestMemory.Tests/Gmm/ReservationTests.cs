using GuestMemory.Gmm;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Gmm;

/// <summary>Reservations (base, shadow, fixed) and the over-commit policy that may decline them.</summary>
public sealed class ReservationTests
{
    // 16 MiB host = 4096 pages; the default ratio 4 allows 16384 reserved pages in all.
    private const long HostPages = 4096;

    [Fact]
    public void Updating_a_reservation_changes_the_vm_and_the_global_figure()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm(basePages: 1000, shadowPages: 10, fixedPages: 1);

        gmm.UpdateReservation(vm, new AccountPages(3000, 30, 3));

        Assert.Equal(new AccountPages(3000, 30, 3), gmm.GetVmStatistics(vm).Reserved);
        Assert.Equal(3033, gmm.GetStatistics().ReservedPages);
        gmm.Verify();
    }

    [Fact]
    public void Reservations_may_over_commit_the_host_up_to_the_ratio()
    {
        using PageManager gmm = TestGmm.Create(overcommitRatio: 2);
        VmHandle a = gmm.AddVm(basePages: HostPages, shadowPages: 0, fixedPages: 0);
        gmm.AddVm(basePages: HostPages - 1, shadowPages: 0, fixedPages: 1);

        GmmAssert.FailsUnchanged(gmm, GmmError.ReservationDeclined, () => gmm.AddVm(basePages: 1, shadowPages: 0, fixedPages: 0));
        GmmAssert.FailsUnchanged(gmm, GmmError.ReservationDeclined, () => gmm.UpdateReservation(a, new AccountPages(HostPages, 1, 0)));
        gmm.UpdateReservation(a, new AccountPages(HostPages - 1, 1, 0));
        gmm.Verify();
    }

    [Fact]
    public void Vms_that_may_not_over_commit_must_fit_the_host_outright()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle strict = gmm.AddVm(basePages: HostPages - 100, shadowPages: 0, fixedPages: 0, policy: OvercommitPolicy.NoOvercommit);
        gmm.AddVm(basePages: 8000); // an over-committing VM does not count against the strict budget

        GmmAssert.FailsUnchanged(gmm, GmmError.ReservationDeclined,
            () => gmm.AddVm(basePages: 101, shadowPages: 0, fixedPages: 0, policy: OvercommitPolicy.NoOvercommit));
        GmmAssert.FailsUnchanged(gmm, GmmError.ReservationDeclined, () => gmm.UpdateReservation(strict, new AccountPages(HostPages + 1, 0, 0)));
        gmm.AddVm(basePages: 100, shadowPages: 0, fixedPages: 0, policy: OvercommitPolicy.NoOvercommit);
        gmm.Verify();
    }

    [Fact]
    public void A_reservation_may_drop_below_what_is_allocated_and_then_blocks_allocation()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm(basePages: 100);
        PageId[] pages = gmm.Allocate(vm, 100);

        gmm.UpdateReservation(vm, new AccountPages(50, 64, 16));

        GmmAssert.FailsUnchanged(gmm, GmmError.HitVmAccountLimit, () => gmm.Allocate(vm, 1));
        gmm.Free(vm, pages[..51]);
        gmm.Allocate(vm, 1);
        gmm.Verify();
    }

    public static TheoryData<long, long, long> BadShapes => new()
    {
        { -1, 10, 10 },
        { 10, -1, 10 },
        { 10, 10, -1 },
        { 0, 0, 0 },
        { (1L << 40) + 1, 0, 0 },
        // Each figure alone is absurd, but the sum wraps around to a small positive number.
        { long.MaxValue, long.MaxValue, 100 },
    };

    [Theory]
    [MemberData(nameof(BadShapes))]
    public void Negative_empty_or_absurd_reservations_are_invalid_arguments(long basePages, long shadowPages, long fixedPages)
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm();
        var bad = new AccountPages(basePages, shadowPages, fixedPages);

        GmmAssert.FailsUnchanged(gmm, GmmError.InvalidArgument, () => gmm.RegisterVm("bad", bad));
        GmmAssert.FailsUnchanged(gmm, GmmError.InvalidArgument, () => gmm.UpdateReservation(vm, bad));
    }
}
