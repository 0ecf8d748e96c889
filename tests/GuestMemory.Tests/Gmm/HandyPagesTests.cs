using GuestMemory.Gmm;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Gmm;

/// <summary>
/// Handy pages (seed: GMMR0AllocateHandyPages): record the guest frames of handy pages now in use, then
/// hand out a new batch of base pages that back no frame yet; all or nothing.
/// </summary>
public sealed class HandyPagesTests
{
    [Fact]
    public void A_new_batch_is_base_pages_with_no_guest_frame()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm();
        var batch = new PageDescriptor[128];

        int granted = gmm.AllocateHandyPages(vm, [], batch);

        Assert.Equal(128, granted);
        Assert.All(batch, d =>
        {
            Assert.True(d.Zeroed);
            Assert.Equal(PageDescriptor.NoGuestFrame, d.GuestFrame);
            Assert.Equal((vm, GmmAccount.Base, PageDescriptor.NoGuestFrame), gmm.GetPrivatePageInfo(d.Page));
        });
        Assert.Equal(128, gmm.GetVmStatistics(vm).Allocated.Base);
        gmm.Verify();
    }

    [Fact]
    public void Updates_record_guest_frames_before_the_next_batch_is_handed_out()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm();
        var batch = new PageDescriptor[16];
        gmm.AllocateHandyPages(vm, [], batch);
        PageDescriptor[] used = batch[..10];
        for (int i = 0; i < used.Length; i++) used[i].GuestFrame = 0x4000 + (ulong)i;

        int granted = gmm.AllocateHandyPages(vm, used, batch);

        Assert.Equal(16, granted);
        for (int i = 0; i < used.Length; i++)
            Assert.Equal(0x4000 + (ulong)i, gmm.GetPrivatePageInfo(used[i].Page).GuestFrame);
        Assert.Empty(batch.Select(d => d.Page).Intersect(used.Select(d => d.Page)));
        Assert.Equal(32, gmm.GetVmStatistics(vm).Allocated.Base);
        gmm.Verify();
    }

    [Fact]
    public void Updates_alone_allocate_nothing()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm();
        var batch = new PageDescriptor[4];
        gmm.AllocateHandyPages(vm, [], batch);
        batch[0].GuestFrame = 7;

        Assert.Equal(0, gmm.AllocateHandyPages(vm, batch[..1], []));

        Assert.Equal(7UL, gmm.GetPrivatePageInfo(batch[0].Page).GuestFrame);
        Assert.Equal(4, gmm.GetStatistics().PrivatePages);
        gmm.Verify();
    }

    [Fact]
    public void Fewer_pages_are_granted_when_the_base_account_is_nearly_full()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm(basePages: 100);
        gmm.Allocate(vm, 90);
        var batch = new PageDescriptor[32];

        Assert.Equal(10, gmm.AllocateHandyPages(vm, [], batch));

        Assert.All(batch[..10], d => Assert.Equal(vm, gmm.GetPrivatePageInfo(d.Page).Owner));
        Assert.All(batch[10..], d => Assert.True(d.Page.IsNil));
        Assert.Equal(100, gmm.GetVmStatistics(vm).Allocated.Base);
        gmm.Verify();
    }

    [Fact]
    public void Fewer_pages_are_granted_when_the_host_is_nearly_full()
    {
        using PageManager gmm = TestGmm.Create(hostMib: 2);
        VmHandle vm = gmm.AddVm(basePages: 1000);
        gmm.Allocate(vm, 500);

        Assert.Equal(12, gmm.AllocateHandyPages(vm, [], new PageDescriptor[32]));
        gmm.Verify();
    }

    [Fact]
    public void When_no_page_can_be_granted_the_limit_error_is_raised_and_no_update_is_applied()
    {
        using PageManager gmm = TestGmm.Create(hostMib: 2, overcommitRatio: 10);
        VmHandle vm = gmm.AddVm(basePages: 20), other = gmm.AddVm(basePages: 2000);
        var batch = new PageDescriptor[20];
        gmm.AllocateHandyPages(vm, [], batch);
        PageDescriptor[] update = batch[..1];
        update[0].GuestFrame = 99;

        GmmAssert.FailsUnchanged(gmm, GmmError.HitVmAccountLimit, () => gmm.AllocateHandyPages(vm, update, new PageDescriptor[8]), update[0].Page);

        gmm.UpdateReservation(vm, new AccountPages(2000, 64, 16));
        gmm.Allocate(other, Paging.PagesPerChunk - 20);
        GmmAssert.FailsUnchanged(gmm, GmmError.HitGlobalLimit, () => gmm.AllocateHandyPages(vm, update, new PageDescriptor[8]), update[0].Page);
    }

    [Fact]
    public void Updating_a_page_that_is_not_private_fails_with_page_not_private()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm();
        PageId[] pages = gmm.Allocate(vm, 2);
        PageId shared = gmm.AllocateSharedPage(vm, checksum: 3);
        gmm.Free(vm, pages[1]);

        foreach (PageId notPrivate in new[] { shared, pages[1] })
        {
            PageDescriptor[] updates = [new() { Page = pages[0], GuestFrame = 1 }, new() { Page = notPrivate, GuestFrame = 2 }];
            GmmAssert.FailsUnchanged(gmm, GmmError.PageNotPrivate, () => gmm.AllocateHandyPages(vm, updates, new PageDescriptor[4]), pages[0], notPrivate);
        }
    }

    [Fact]
    public void Updating_another_vms_page_or_a_non_base_page_fails_with_not_page_owner()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm(), other = gmm.AddVm();
        PageId mine = gmm.Allocate(vm, 1)[0];
        PageId theirs = gmm.Allocate(other, 1)[0];
        PageId shadow = gmm.Allocate(vm, 1, GmmAccount.Shadow)[0];

        foreach (PageId notMine in new[] { theirs, shadow })
        {
            PageDescriptor[] updates = [new() { Page = mine, GuestFrame = 1 }, new() { Page = notMine, GuestFrame = 2 }];
            GmmAssert.FailsUnchanged(gmm, GmmError.NotPageOwner, () => gmm.AllocateHandyPages(vm, updates, new PageDescriptor[4]), mine, notMine);
        }
    }

    [Fact]
    public void Updating_an_unknown_page_or_to_an_impossible_frame_fails_and_changes_nothing()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm();
        PageId mine = gmm.Allocate(vm, 1)[0];

        PageDescriptor[] unknown = [new() { Page = mine, GuestFrame = 1 }, new() { Page = PageId.From(7, 0), GuestFrame = 2 }];
        GmmAssert.FailsUnchanged(gmm, GmmError.PageNotFound, () => gmm.AllocateHandyPages(vm, unknown, new PageDescriptor[4]), mine);
        PageDescriptor[] beyond = [new() { Page = mine, GuestFrame = 1UL << 40 }];
        GmmAssert.FailsUnchanged(gmm, GmmError.InvalidArgument, () => gmm.AllocateHandyPages(vm, beyond, new PageDescriptor[4]), mine);
    }
}
