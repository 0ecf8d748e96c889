using GuestMemory.Gmm;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Gmm;

/// <summary>
/// The limits every allocation checks: the host limit first, then the VM's account
/// (base: allocated + ballooned + n &lt;= reserved; shadow and fixed: allocated + n &lt;= reserved).
/// </summary>
public sealed class AccountLimitTests
{
    [Fact]
    public void Base_pages_may_fill_the_reservation_exactly_and_not_one_more()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm(basePages: 600);
        gmm.Allocate(vm, 599);
        PageId last = gmm.Allocate(vm, 1)[0];

        GmmAssert.FailsUnchanged(gmm, GmmError.HitVmAccountLimit, () => gmm.Allocate(vm, 1), last);
        gmm.Free(vm, last);
        gmm.Allocate(vm, 1);
        gmm.Verify();
    }

    [Fact]
    public void Ballooned_pages_count_against_the_base_reservation()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm(basePages: 600);
        gmm.Allocate(vm, 400);
        gmm.BalloonedPages(vm, 150, [], completed: true);

        GmmAssert.FailsUnchanged(gmm, GmmError.HitVmAccountLimit, () => gmm.Allocate(vm, 51));
        gmm.Allocate(vm, 50);
        gmm.Verify();
    }

    [Fact]
    public void Shared_references_count_against_the_base_reservation()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm(basePages: 10);
        PageId shared = gmm.AllocateSharedPage(vm, checksum: 0);
        for (int i = 0; i < 4; i++) gmm.AddSharedReference(vm, shared);

        GmmAssert.FailsUnchanged(gmm, GmmError.HitVmAccountLimit, () => gmm.Allocate(vm, 6));
        gmm.Allocate(vm, 5);
        gmm.Verify();
    }

    [Theory]
    [InlineData(GmmAccount.Shadow)]
    [InlineData(GmmAccount.Fixed)]
    public void Shadow_and_fixed_pages_are_limited_by_their_own_reservation_and_ignore_the_balloon(GmmAccount account)
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm(basePages: 100, shadowPages: 40, fixedPages: 40);
        gmm.BalloonedPages(vm, 100, [], completed: true);
        gmm.Allocate(vm, 30, account);

        GmmAssert.FailsUnchanged(gmm, GmmError.HitVmAccountLimit, () => gmm.Allocate(vm, 11, account));
        gmm.Allocate(vm, 10, account);
        GmmAssert.FailsUnchanged(gmm, GmmError.HitVmAccountLimit, () => gmm.Allocate(vm, 1, GmmAccount.Base));
        gmm.Verify();
    }

    [Fact]
    public void No_allocation_may_take_the_host_past_its_memory_limit()
    {
        using PageManager gmm = TestGmm.Create(hostMib: 4); // 1024 pages
        VmHandle a = gmm.AddVm(basePages: 1000), b = gmm.AddVm(basePages: 1000);
        gmm.Allocate(a, 1000);
        gmm.Allocate(b, 24);

        GmmAssert.FailsUnchanged(gmm, GmmError.HitGlobalLimit, () => gmm.Allocate(b, 1));
        GmmAssert.FailsUnchanged(gmm, GmmError.HitGlobalLimit, () => gmm.AllocateSharedPage(b, 0));
        Assert.Equal(gmm.MaxPages, gmm.GetStatistics().AllocatedPages);
        gmm.Verify();
    }

    [Fact]
    public void The_host_limit_is_checked_before_the_account_limit()
    {
        using PageManager gmm = TestGmm.Create(hostMib: 2);
        VmHandle vm = gmm.AddVm(basePages: 100);

        GmmAssert.FailsUnchanged(gmm, GmmError.HitGlobalLimit, () => gmm.Allocate(vm, Paging.PagesPerChunk + 1));
    }
}
