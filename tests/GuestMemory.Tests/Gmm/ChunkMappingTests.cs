using GuestMemory.Gmm;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Gmm;

/// <summary>Mapping chunks into a VM (seed: GMMR0MapUnmapChunk): no double map, no stray unmap, live chunks only.</summary>
public sealed class ChunkMappingTests
{
    [Fact]
    public unsafe void Mapping_returns_the_chunks_host_address_and_unmapping_forgets_it()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm();
        int chunk = gmm.Allocate(vm, 1)[0].ChunkId;

        Assert.Equal((nint)gmm.Host.ChunkAddress(chunk), gmm.MapUnmapChunk(vm, chunk, 0));
        Assert.Equal(0, gmm.MapUnmapChunk(vm, 0, chunk));
        Assert.Equal((nint)gmm.Host.ChunkAddress(chunk), gmm.MapUnmapChunk(vm, chunk, 0));
        gmm.Verify();
    }

    [Fact]
    public void A_chunk_cannot_be_mapped_twice_into_one_vm_but_into_two_vms()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle a = gmm.AddVm(), b = gmm.AddVm();
        PageId page = gmm.Allocate(a, 1)[0];
        gmm.MapUnmapChunk(a, page.ChunkId, 0);

        GmmAssert.FailsUnchanged(gmm, GmmError.ChunkAlreadyMapped, () => gmm.MapUnmapChunk(a, page.ChunkId, 0));
        gmm.MapUnmapChunk(b, page.ChunkId, 0);
        gmm.Verify();
    }

    [Fact]
    public void Map_and_unmap_in_one_call_swap_mappings_and_fail_whole()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm();
        int first = gmm.Allocate(vm, 1)[0].ChunkId;
        int second = gmm.AllocateSharedPage(vm, 0).ChunkId;
        gmm.MapUnmapChunk(vm, first, 0);

        gmm.MapUnmapChunk(vm, second, first);

        GmmAssert.FailsUnchanged(gmm, GmmError.ChunkNotMapped, () => gmm.MapUnmapChunk(vm, first, first));
        gmm.MapUnmapChunk(vm, first, second); // the failed call did not map first; the swap left second mapped
        GmmAssert.FailsUnchanged(gmm, GmmError.ChunkNotMapped, () => gmm.MapUnmapChunk(vm, second, second));
        gmm.MapUnmapChunk(vm, first, first); // a remap of a mapped chunk is allowed
        gmm.Verify();
    }

    [Fact]
    public void Unmapping_a_chunk_that_is_not_mapped_fails()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle a = gmm.AddVm(), b = gmm.AddVm();
        int chunk = gmm.Allocate(a, 1)[0].ChunkId;
        gmm.MapUnmapChunk(b, chunk, 0);

        GmmAssert.FailsUnchanged(gmm, GmmError.ChunkNotMapped, () => gmm.MapUnmapChunk(a, 0, chunk));
    }

    [Fact]
    public void Chunks_that_are_not_live_are_not_found()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm();
        int chunk = gmm.Allocate(vm, 1)[0].ChunkId;
        gmm.MapUnmapChunk(vm, chunk, 0);

        foreach (int unknown in new[] { chunk + 1, -1, int.MaxValue })
        {
            GmmAssert.FailsUnchanged(gmm, GmmError.ChunkNotFound, () => gmm.MapUnmapChunk(vm, unknown, 0));
            GmmAssert.FailsUnchanged(gmm, GmmError.ChunkNotFound, () => gmm.MapUnmapChunk(vm, 0, unknown));
            GmmAssert.FailsUnchanged(gmm, GmmError.ChunkNotFound, () => gmm.MapUnmapChunk(vm, unknown, chunk));
        }
    }

    [Fact]
    public void A_chunk_given_back_to_the_host_is_unmapped_from_every_vm()
    {
        using PageManager gmm = TestGmm.Create(spareChunks: 0);
        VmHandle a = gmm.AddVm(), b = gmm.AddVm();
        PageId[] pages = gmm.Allocate(a, 1);
        gmm.MapUnmapChunk(a, pages[0].ChunkId, 0);
        gmm.MapUnmapChunk(b, pages[0].ChunkId, 0);

        gmm.Free(a, pages);
        GmmAssert.FailsUnchanged(gmm, GmmError.ChunkNotFound, () => gmm.MapUnmapChunk(a, 0, pages[0].ChunkId));
        PageId again = gmm.Allocate(a, 1)[0];

        Assert.Equal(pages[0].ChunkId, again.ChunkId);
        GmmAssert.FailsUnchanged(gmm, GmmError.ChunkNotMapped, () => gmm.MapUnmapChunk(b, 0, again.ChunkId));
        gmm.MapUnmapChunk(a, again.ChunkId, 0);
        gmm.Verify();
    }

    [Fact]
    public void Naming_no_chunk_at_all_is_an_invalid_argument()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm();

        GmmAssert.FailsUnchanged(gmm, GmmError.InvalidArgument, () => gmm.MapUnmapChunk(vm, 0, 0));
    }
}
