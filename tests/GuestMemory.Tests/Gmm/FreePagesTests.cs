using GuestMemory.Gmm;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Gmm;

/// <summary>Freeing pages: only a VM's own private pages of the named account, each once; a bad batch frees nothing.</summary>
public sealed class FreePagesTests
{
    [Fact]
    public void Freed_pages_are_free_and_leave_the_account()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm();
        PageId[] pages = gmm.Allocate(vm, 20);
        PageId[] shadow = gmm.Allocate(vm, 5, GmmAccount.Shadow);

        gmm.Free(vm, pages[..15]);
        gmm.FreePages(vm, GmmAccount.Shadow, shadow[..2]);

        Assert.All(pages[..15].Concat(shadow[..2]), p => Assert.Equal(HostPageState.Free, gmm.GetPageState(p)));
        Assert.All(pages[15..].Concat(shadow[2..]), p => Assert.Equal(HostPageState.Private, gmm.GetPageState(p)));
        Assert.Equal(new AccountPages(5, 3, 0), gmm.GetVmStatistics(vm).Allocated);
        Assert.Equal(8, gmm.GetStatistics().PrivatePages);
        gmm.Verify();
    }

    [Fact]
    public void Freeing_an_empty_batch_changes_nothing()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm();
        gmm.Allocate(vm, 3);
        GmmSnapshot before = GmmSnapshot.Take(gmm);

        gmm.Free(vm);

        GmmSnapshot.Take(gmm).AssertSameAs(before);
        gmm.Verify();
    }

    [Fact]
    public void A_vm_cannot_free_another_vms_page()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle a = gmm.AddVm(), b = gmm.AddVm();
        PageId[] mine = gmm.Allocate(a, 3);
        PageId theirs = gmm.Allocate(b, 1)[0];

        GmmAssert.FailsUnchanged(gmm, GmmError.NotPageOwner, () => gmm.Free(a, mine[0], mine[1], theirs, mine[2]), [.. mine, theirs]);
    }

    [Fact]
    public void A_page_must_be_freed_from_the_account_it_was_allocated_in()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm();
        PageId shadow = gmm.Allocate(vm, 1, GmmAccount.Shadow)[0];
        PageId base0 = gmm.Allocate(vm, 1)[0];

        GmmAssert.FailsUnchanged(gmm, GmmError.NotPageOwner, () => gmm.Free(vm, base0, shadow), base0, shadow);
        GmmAssert.FailsUnchanged(gmm, GmmError.NotPageOwner, () => gmm.FreePages(vm, GmmAccount.Fixed, [shadow]), shadow);
    }

    [Fact]
    public void Freeing_a_free_page_is_a_double_free()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm();
        PageId[] pages = gmm.Allocate(vm, 4);
        gmm.Free(vm, pages[0]);

        GmmAssert.FailsUnchanged(gmm, GmmError.PageAlreadyFree, () => gmm.Free(vm, pages[1], pages[0]), pages);
    }

    [Fact]
    public void Naming_a_page_twice_in_one_batch_is_a_double_free_and_frees_neither()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm();
        PageId[] pages = gmm.Allocate(vm, 4);

        GmmAssert.FailsUnchanged(gmm, GmmError.PageAlreadyFree, () => gmm.Free(vm, pages[2], pages[3], pages[2]), pages);
        gmm.Free(vm, pages); // no free mark was left behind
        gmm.Verify();
    }

    [Fact]
    public void Unknown_page_ids_are_not_found()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm();
        PageId page = gmm.Allocate(vm, 1)[0];
        PageId[] unknown = [PageId.Nil, PageId.From(page.ChunkId + 1, 0), PageId.From(PageId.MaxChunkId, 511), new PageId(uint.MaxValue)];

        foreach (PageId id in unknown)
            GmmAssert.FailsUnchanged(gmm, GmmError.PageNotFound, () => gmm.Free(vm, page, id), page);
    }

    [Fact]
    public void A_page_of_a_chunk_given_back_to_the_host_is_not_found()
    {
        using PageManager gmm = TestGmm.Create(spareChunks: 0);
        VmHandle vm = gmm.AddVm();
        PageId[] pages = gmm.Allocate(vm, 2);
        gmm.Free(vm, pages);

        GmmAssert.FailsUnchanged(gmm, GmmError.PageNotFound, () => gmm.Free(vm, pages[0]));
    }
}
