using GuestMemory.Gmm;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Gmm;

/// <summary>Destroying a VM frees its private pages, drops its shared references, empties its balloon and frees emptied chunks.</summary>
public sealed class VmDestroyTests
{
    [Fact]
    public void Private_pages_of_every_account_are_freed_and_their_chunks_go_back()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm();
        gmm.Allocate(vm, 1000);
        gmm.Allocate(vm, 30, GmmAccount.Shadow);
        gmm.Allocate(vm, 10, GmmAccount.Fixed);

        gmm.DestroyVm(vm);

        GmmStatistics s = gmm.GetStatistics();
        Assert.Equal(0, s.AllocatedPages);
        Assert.Equal(0, s.Chunks);
        Assert.Equal(0, s.ReservedPages);
        Assert.Equal(0, s.Vms);
        Assert.Equal(0, gmm.Host.CommittedChunks);
        Assert.Empty(gmm.GetVmHandles());
        gmm.Verify();
    }

    [Fact]
    public void Pages_the_vm_holds_in_other_vms_chunks_are_freed_and_those_chunks_stay()
    {
        using PageManager gmm = TestGmm.Create(hostMib: 4); // two chunks
        VmHandle a = gmm.AddVm(basePages: 1024), b = gmm.AddVm(basePages: 100);
        PageId[] pagesA = gmm.Allocate(a, 2 * Paging.PagesPerChunk);
        gmm.Free(a, pagesA[..10]);
        PageId[] pagesB = gmm.Allocate(b, 10); // no new chunk: these land in a's first chunk

        gmm.DestroyVm(b);

        Assert.All(pagesB, p => Assert.Equal(HostPageState.Free, gmm.GetPageState(p)));
        Assert.Equal(2, gmm.GetStatistics().Chunks);
        Assert.Equal(2 * Paging.PagesPerChunk - 10, gmm.GetStatistics().PrivatePages);
        gmm.Verify();
    }

    [Fact]
    public void Chunks_still_holding_other_vms_pages_lose_their_affinity_but_stay_usable()
    {
        using PageManager gmm = TestGmm.Create(hostMib: 4);
        VmHandle a = gmm.AddVm(basePages: 1024), b = gmm.AddVm(basePages: 100);
        PageId[] pagesA = gmm.Allocate(a, 2 * Paging.PagesPerChunk);
        gmm.Free(a, pagesA[..100]);
        PageId[] pagesB = gmm.Allocate(b, 100);

        gmm.DestroyVm(a);
        VmHandle c = gmm.AddVm(basePages: 1024);
        PageId[] pagesC = gmm.Allocate(c, 2 * Paging.PagesPerChunk - 100);

        Assert.Equal(TestGmm.ChunksOf(pagesA[..100]), TestGmm.ChunksOf(pagesB));
        Assert.Equal(2, gmm.GetStatistics().Chunks);
        Assert.Equal(2 * Paging.PagesPerChunk, gmm.GetStatistics().PrivatePages);
        Assert.All(pagesC, p => Assert.Equal(c, gmm.GetPrivatePageInfo(p).Owner));
        gmm.Verify();
    }

    [Fact]
    public void Shared_references_are_dropped_and_pages_nobody_references_are_freed()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle a = gmm.AddVm(), b = gmm.AddVm();
        PageId onlyA = gmm.AllocateSharedPage(a, checksum: 1);
        gmm.AddSharedReference(a, onlyA);
        PageId both = gmm.AllocateSharedPage(a, checksum: 2);
        gmm.AddSharedReference(b, both);

        gmm.DestroyVm(a);

        Assert.Equal(HostPageState.Free, gmm.GetPageState(onlyA));
        Assert.Equal((2u, 1u), gmm.GetSharedPageInfo(both));
        GmmStatistics s = gmm.GetStatistics();
        Assert.Equal(1, s.SharedPages);
        Assert.Equal(0, s.DuplicatePages);
        gmm.Verify();
    }

    [Fact]
    public void The_balloon_and_reservation_leave_the_global_figures()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle a = gmm.AddVm(basePages: 1000, shadowPages: 0, fixedPages: 0, policy: OvercommitPolicy.NoOvercommit);
        VmHandle b = gmm.AddVm(basePages: 500, shadowPages: 0, fixedPages: 0);
        gmm.BalloonedPages(a, 300, [], completed: true);
        gmm.BalloonedPages(b, 20, [], completed: true);

        gmm.DestroyVm(a);

        GmmStatistics s = gmm.GetStatistics();
        Assert.Equal(20, s.BalloonedPages);
        Assert.Equal(500, s.ReservedPages);
        // The strict budget is free again: a new strict VM may take the whole host.
        gmm.AddVm(basePages: gmm.MaxPages, shadowPages: 0, fixedPages: 0, policy: OvercommitPolicy.NoOvercommit);
        gmm.Verify();
    }

    [Fact]
    public void Destroying_a_vm_twice_fails_the_second_time()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm();
        gmm.DestroyVm(vm);

        GmmAssert.FailsUnchanged(gmm, GmmError.VmNotFound, () => gmm.DestroyVm(vm));
    }
}
