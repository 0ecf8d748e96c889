using GuestMemory.Gmm;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Gmm;

/// <summary>Shared pages: reference counted across VMs, freed with the last reference, with their checksum kept.</summary>
public sealed class SharedPageTests
{
    [Fact]
    public void A_new_shared_page_has_one_reference_from_its_vm_and_its_checksum()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm();

        PageId shared = gmm.AllocateSharedPage(vm, checksum: 0xC0FFEE);

        Assert.Equal(HostPageState.Shared, gmm.GetPageState(shared));
        Assert.Equal((0xC0FFEEu, 1u), gmm.GetSharedPageInfo(shared));
        Assert.Equal(1, gmm.GetVmStatistics(vm).SharedPages);
        Assert.Equal(1, gmm.GetVmStatistics(vm).Allocated.Base);
        Assert.Equal(1, gmm.GetStatistics().SharedPages);
        gmm.Verify();
    }

    [Fact]
    public void References_from_several_vms_add_up_and_cost_no_host_page()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle a = gmm.AddVm(), b = gmm.AddVm();
        PageId shared = gmm.AllocateSharedPage(a, checksum: 9);

        gmm.AddSharedReference(b, shared);
        gmm.AddSharedReference(b, shared);
        gmm.AddSharedReference(a, shared);

        Assert.Equal((9u, 4u), gmm.GetSharedPageInfo(shared));
        Assert.Equal(2, gmm.GetVmStatistics(b).SharedPages);
        GmmStatistics s = gmm.GetStatistics();
        Assert.Equal(1, s.AllocatedPages);
        Assert.Equal(3, s.DuplicatePages);
        gmm.Verify();
    }

    [Fact]
    public void Freeing_a_shared_page_drops_one_reference_and_the_last_one_frees_it()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle a = gmm.AddVm(), b = gmm.AddVm();
        PageId shared = gmm.AllocateSharedPage(a, checksum: 5);
        gmm.AddSharedReference(b, shared);

        gmm.Free(a, shared);
        Assert.Equal((5u, 1u), gmm.GetSharedPageInfo(shared));
        GmmAssert.FailsUnchanged(gmm, GmmError.NotPageOwner, () => gmm.Free(a, shared), shared);

        gmm.Free(b, shared);
        Assert.Equal(0, gmm.GetStatistics().SharedPages);
        GmmAssert.Fails(GmmError.PageNotFound, () => gmm.GetPageState(shared)); // its chunk went back to the host
        gmm.Verify();
    }

    [Fact]
    public void A_batch_may_drop_every_reference_a_vm_holds_to_one_page()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle a = gmm.AddVm(), b = gmm.AddVm();
        PageId shared = gmm.AllocateSharedPage(a, checksum: 5);
        gmm.AddSharedReference(a, shared);
        gmm.AddSharedReference(a, shared);
        gmm.AddSharedReference(b, shared);

        gmm.Free(a, shared, shared);
        Assert.Equal((5u, 2u), gmm.GetSharedPageInfo(shared));
        Assert.Equal(1, gmm.GetVmStatistics(a).SharedPages);

        gmm.AddSharedReference(a, shared);
        gmm.Free(a, shared, shared);
        Assert.Equal(0, gmm.GetVmStatistics(a).SharedPages);
        Assert.Equal((5u, 1u), gmm.GetSharedPageInfo(shared));
        gmm.Verify();
    }

    [Fact]
    public void Dropping_more_references_than_the_vm_holds_in_one_batch_drops_none()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle a = gmm.AddVm(), b = gmm.AddVm();
        PageId shared = gmm.AllocateSharedPage(a, checksum: 5);
        gmm.AddSharedReference(a, shared);
        gmm.AddSharedReference(b, shared);

        GmmAssert.FailsUnchanged(gmm, GmmError.NotPageOwner, () => gmm.Free(a, shared, shared, shared), shared);
    }

    [Fact]
    public void Shared_references_can_only_be_dropped_from_the_base_account()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm();
        PageId shared = gmm.AllocateSharedPage(vm, checksum: 5);

        GmmAssert.FailsUnchanged(gmm, GmmError.NotPageOwner, () => gmm.FreePages(vm, GmmAccount.Shadow, [shared]), shared);
    }

    [Fact]
    public void Only_shared_pages_take_references()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm();
        PageId[] pages = gmm.Allocate(vm, 2);
        gmm.Free(vm, pages[1]);

        GmmAssert.FailsUnchanged(gmm, GmmError.PageNotShared, () => gmm.AddSharedReference(vm, pages[0]), pages);
        GmmAssert.FailsUnchanged(gmm, GmmError.PageNotShared, () => gmm.AddSharedReference(vm, pages[1]), pages);
        GmmAssert.FailsUnchanged(gmm, GmmError.PageNotShared, () => gmm.GetSharedPageInfo(pages[0]), pages);
        GmmAssert.FailsUnchanged(gmm, GmmError.PageNotFound, () => gmm.AddSharedReference(vm, PageId.From(pages[0].ChunkId + 1, 0)), pages);
    }

    [Fact]
    public void A_shared_page_is_not_private()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm();
        PageId shared = gmm.AllocateSharedPage(vm, checksum: 5);

        GmmAssert.FailsUnchanged(gmm, GmmError.PageNotPrivate, () => gmm.GetPrivatePageInfo(shared), shared);
    }
}
