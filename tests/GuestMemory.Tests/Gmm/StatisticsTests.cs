using GuestMemory.Gmm;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Gmm;

/// <summary>Global and per-VM statistics add up to what was done.</summary>
public sealed class StatisticsTests
{
    [Fact]
    public void Global_figures_count_pages_chunks_vms_and_balloons()
    {
        using PageManager gmm = TestGmm.Create(hostMib: 16, spareChunks: 1);
        VmHandle a = gmm.AddVm(basePages: 1000, shadowPages: 10, fixedPages: 5);
        VmHandle b = gmm.AddVm(basePages: 2000, shadowPages: 0, fixedPages: 0);
        gmm.Allocate(a, 600);
        gmm.Allocate(a, 7, GmmAccount.Shadow);
        PageId[] pagesB = gmm.Allocate(b, Paging.PagesPerChunk);
        PageId shared = gmm.AllocateSharedPage(a, checksum: 1);
        gmm.AddSharedReference(b, shared);
        gmm.AddSharedReference(b, shared);
        gmm.BalloonedPages(b, 100, [], completed: true);
        gmm.Free(b, pagesB); // b's chunk becomes the spare

        GmmStatistics s = gmm.GetStatistics();

        Assert.Equal(4096, s.MaxPages);
        Assert.Equal(1015 + 2000, s.ReservedPages);
        Assert.Equal(608, s.AllocatedPages);
        Assert.Equal(607, s.PrivatePages);
        Assert.Equal(1, s.SharedPages);
        Assert.Equal(2, s.DuplicatePages);
        Assert.Equal(100, s.BalloonedPages);
        Assert.Equal(4, s.Chunks); // two of a's, the shared one, the spare
        Assert.Equal(1, s.SpareChunks);
        Assert.Equal(0, s.FreedChunks);
        Assert.Equal(4 * Paging.PagesPerChunk - 608, s.FreePages);
        Assert.Equal(2, s.Vms);
        Assert.Equal(2, s.MinimumChunks);
        gmm.Verify();
    }

    [Fact]
    public void Per_vm_figures_count_each_account_shared_references_and_the_balloon()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.RegisterVm("db", new AccountPages(1000, 50, 20), OvercommitPolicy.NoOvercommit, VmPriority.Low);
        gmm.Allocate(vm, 300);
        gmm.Allocate(vm, 40, GmmAccount.Shadow);
        gmm.Allocate(vm, 20, GmmAccount.Fixed);
        PageId shared = gmm.AllocateSharedPage(vm, checksum: 7);
        gmm.AddSharedReference(vm, shared);
        gmm.BalloonedPages(vm, 60, [], completed: true);
        gmm.RequestBalloon(vm, 100);

        GmmVmStatistics s = gmm.GetVmStatistics(vm);

        Assert.Equal(vm, s.Handle);
        Assert.Equal("db", s.Name);
        Assert.Equal(new AccountPages(1000, 50, 20), s.Reserved);
        Assert.Equal(new AccountPages(302, 40, 20), s.Allocated);
        Assert.Equal(360, s.PrivatePages);
        Assert.Equal(2, s.SharedPages);
        Assert.Equal(60, s.BalloonedPages);
        Assert.Equal(40, s.RequestedBalloonPages);
        Assert.Equal(0, s.ActuallyBalloonedPages);
        Assert.Equal(0, s.RequestedDeflatePages);
        Assert.Equal(OvercommitPolicy.NoOvercommit, s.Policy);
        Assert.Equal(VmPriority.Low, s.Priority);
        gmm.Verify();
    }

    [Fact]
    public void Freed_chunks_count_every_chunk_given_back()
    {
        using PageManager gmm = TestGmm.Create(spareChunks: 0);
        VmHandle vm = gmm.AddVm();
        for (int round = 0; round < 3; round++) gmm.Free(vm, gmm.Allocate(vm, Paging.PagesPerChunk + 1));

        GmmStatistics s = gmm.GetStatistics();
        Assert.Equal(6, s.FreedChunks);
        Assert.Equal(0, s.Chunks);
        gmm.Verify();
    }
}
