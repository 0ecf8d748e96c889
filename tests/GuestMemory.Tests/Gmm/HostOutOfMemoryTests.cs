using GuestMemory.Gmm;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Gmm;

/// <summary>When the host refuses memory for a new chunk the call fails with HostOutOfMemory and nothing changes, or it is served from chunks already committed.</summary>
public sealed class HostOutOfMemoryTests
{
    [Fact]
    public void Allocating_pages_fails_whole_when_any_new_chunk_is_refused()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm();
        PageId[] before = gmm.Allocate(vm, 10);
        int firstNewChunk = before[0].ChunkId + 1;
        gmm.Host.InjectCommitFailure = id => id == firstNewChunk + 2; // the third new chunk

        GmmAssert.FailsUnchanged(gmm, GmmError.HostOutOfMemory, () => gmm.Allocate(vm, 4 * Paging.PagesPerChunk), before);

        Assert.Equal(1, gmm.Host.CommittedChunks);
        gmm.Host.InjectCommitFailure = null;
        PageId[] after = gmm.Allocate(vm, 4 * Paging.PagesPerChunk);
        Assert.Equal(Enumerable.Range(before[0].ChunkId, 5), TestGmm.ChunksOf(after)); // the ids rolled back are reused
        gmm.Verify();
    }

    [Fact]
    public void Shared_and_handy_allocations_fail_whole_when_the_chunk_is_refused()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm();
        PageId[] mine = gmm.Allocate(vm, Paging.PagesPerChunk);
        PageDescriptor[] update = [new() { Page = mine[0], GuestFrame = 5 }];
        gmm.Host.InjectCommitFailure = _ => true;

        GmmAssert.FailsUnchanged(gmm, GmmError.HostOutOfMemory, () => gmm.AllocateSharedPage(vm, checksum: 1), mine[0]);
        GmmAssert.FailsUnchanged(gmm, GmmError.HostOutOfMemory, () => gmm.AllocateHandyPages(vm, update, new PageDescriptor[8]), mine[0]);
        GmmAssert.FailsUnchanged(gmm, GmmError.HostOutOfMemory, () => gmm.Allocate(vm, 1, GmmAccount.Fixed), mine[0]);
    }

    [Fact]
    public void A_refused_chunk_is_not_needed_when_committed_chunks_have_room()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle a = gmm.AddVm(), b = gmm.AddVm();
        PageId[] pagesA = gmm.Allocate(a, 300);
        gmm.Host.InjectCommitFailure = _ => true;

        PageId[] pagesB = gmm.Allocate(b, 200);
        PageId shared = gmm.AllocateSharedPage(b, checksum: 0);

        Assert.Equal(TestGmm.ChunksOf(pagesA), TestGmm.ChunksOf([.. pagesB, shared]));
        GmmAssert.FailsUnchanged(gmm, GmmError.HostOutOfMemory, () => gmm.Allocate(b, 12), [.. pagesB]);
        gmm.Allocate(b, 11);
        gmm.Verify();
    }
}
