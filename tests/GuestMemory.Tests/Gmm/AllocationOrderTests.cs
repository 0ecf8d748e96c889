using GuestMemory.Gmm;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Gmm;

/// <summary>
/// Where pages come from: the fullest chunk the VM already has affinity with, then a spare empty chunk,
/// then a newly committed chunk; only when the host gives no more chunks, the fullest chunk anywhere.
/// </summary>
public sealed class AllocationOrderTests
{
    [Fact]
    public void A_vm_fills_its_chunk_before_a_new_one_is_committed()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm();

        PageId[] first = gmm.Allocate(vm, 100);
        PageId[] second = gmm.Allocate(vm, 412);

        Assert.Single(TestGmm.ChunksOf(first.Concat(second)));
        Assert.Equal(1, gmm.GetStatistics().Chunks);

        PageId[] third = gmm.Allocate(vm, 1);

        Assert.NotEqual(first[0].ChunkId, third[0].ChunkId);
        Assert.Equal(2, gmm.GetStatistics().Chunks);
        gmm.Verify();
    }

    [Fact]
    public void Each_vm_gets_chunks_of_its_own_while_the_host_has_room()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle a = gmm.AddVm(), b = gmm.AddVm();

        PageId[] pagesA = gmm.Allocate(a, 10);
        PageId[] pagesB = gmm.Allocate(b, 10);
        PageId[] moreA = gmm.Allocate(a, 10);

        Assert.Empty(TestGmm.ChunksOf(pagesA).Intersect(TestGmm.ChunksOf(pagesB)));
        Assert.Equal(TestGmm.ChunksOf(pagesA), TestGmm.ChunksOf(moreA));
        gmm.Verify();
    }

    [Fact]
    public void The_fullest_affinity_chunk_is_used_first()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm();
        PageId[] pages = gmm.Allocate(vm, 2 * Paging.PagesPerChunk);
        int[] chunks = TestGmm.ChunksOf(pages);
        gmm.Free(vm, pages.Where(p => p.ChunkId == chunks[0]).Take(300).ToArray());
        gmm.Free(vm, pages.Where(p => p.ChunkId == chunks[1]).Take(100).ToArray());

        PageId[] next = gmm.Allocate(vm, 100);
        PageId[] after = gmm.Allocate(vm, 1);

        Assert.All(next, p => Assert.Equal(chunks[1], p.ChunkId));
        Assert.Equal(chunks[0], after[0].ChunkId);
        gmm.Verify();
    }

    [Fact]
    public void A_spare_empty_chunk_is_taken_before_a_new_one_is_committed()
    {
        using PageManager gmm = TestGmm.Create(spareChunks: 1);
        VmHandle a = gmm.AddVm(), b = gmm.AddVm();
        PageId[] pagesA = gmm.Allocate(a, Paging.PagesPerChunk);
        gmm.Free(a, pagesA);
        Assert.Equal(1, gmm.GetStatistics().SpareChunks);

        PageId[] pagesB = gmm.Allocate(b, 1);

        Assert.Equal(pagesA[0].ChunkId, pagesB[0].ChunkId);
        GmmStatistics s = gmm.GetStatistics();
        Assert.Equal(1, s.Chunks);
        Assert.Equal(0, s.SpareChunks);
        gmm.Verify();
    }

    [Fact]
    public void When_the_host_limit_allows_no_new_chunk_pages_come_from_the_fullest_chunk_anywhere()
    {
        using PageManager gmm = TestGmm.Create(hostMib: 8); // four chunks
        VmHandle a = gmm.AddVm(basePages: 4 * Paging.PagesPerChunk), b = gmm.AddVm();
        PageId[] pagesA = gmm.Allocate(a, 4 * Paging.PagesPerChunk);
        int[] chunks = TestGmm.ChunksOf(pagesA);
        gmm.Free(a, pagesA.Where(p => p.ChunkId == chunks[0]).Take(100).ToArray());
        gmm.Free(a, pagesA.Where(p => p.ChunkId == chunks[2]).Take(50).ToArray());

        PageId[] pagesB = gmm.Allocate(b, 60);

        Assert.Equal(50, pagesB.Count(p => p.ChunkId == chunks[2]));
        Assert.Equal(10, pagesB.Count(p => p.ChunkId == chunks[0]));
        Assert.Equal(4, gmm.GetStatistics().Chunks);
        Assert.All(pagesB, p => Assert.Equal(b, gmm.GetPrivatePageInfo(p).Owner));
        gmm.Verify();
    }

    [Fact]
    public void Shared_pages_live_in_chunks_of_their_own()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm();
        PageId[] privatePages = gmm.Allocate(vm, 10);

        PageId shared = gmm.AllocateSharedPage(vm, checksum: 1);
        PageId shared2 = gmm.AllocateSharedPage(vm, checksum: 2);

        Assert.NotEqual(privatePages[0].ChunkId, shared.ChunkId);
        Assert.Equal(shared.ChunkId, shared2.ChunkId);
        gmm.Verify();
    }
}
