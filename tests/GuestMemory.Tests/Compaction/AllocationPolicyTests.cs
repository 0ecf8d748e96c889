using GuestMemory.Gmm;
using GuestMemory.Phys;
using GuestMemory.Tests.Fusion;

namespace GuestMemory.Tests.Compaction;

/// <summary>
/// Allocation that avoids fragmentation where it can (seed: chunk affinity to the VM, fuller chunks first),
/// seen from the guests' side, each next to the placement that does the opposite (the bench's switch).
/// </summary>
public sealed class AllocationPolicyTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Vms_that_start_together_get_chunks_of_their_own_only_with_vm_affinity(bool affinity)
    {
        using var rig = new CompactionRig(placement: new ChunkPlacement(VmAffinity: affinity));
        VirtualMachine a = rig.AddVm(1024), b = rig.AddVm(1024), c = rig.AddVm(1024);

        rig.FillInterleaved(1024, a, b, c);

        int shared = rig.ChunksOf(a).Intersect(rig.ChunksOf(b)).Count() + rig.ChunksOf(b).Intersect(rig.ChunksOf(c)).Count();
        if (affinity) Assert.Equal(0, shared);
        else Assert.True(shared > 0);
        rig.CheckAll();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Shared_pages_live_in_chunks_without_private_pages_only_with_shared_chunks(bool sharedChunks)
    {
        using var rig = new CompactionRig(placement: new ChunkPlacement(SharedChunks: sharedChunks));
        VirtualMachine a = rig.AddVm(256, sharing: true), b = rig.AddVm(256, sharing: true);
        for (int p = 0; p < 256; p++)
        {
            byte[] content = p % 2 == 0 ? TestPages.Filled(5000 + (ulong)p) : TestPages.Filled(((ulong)p << 8) | 1);
            rig.Write(a, p, content);
            rig.Write(b, p, p % 2 == 0 ? content : TestPages.Filled(((ulong)p << 8) | 2));
        }
        while (!rig.Gmm.Fusion.RunPass().Converged) { }

        ChunkOccupancy[] withShared = rig.Gmm.Pages.GetChunkOccupancy().Where(c => c.SharedPages > 0).ToArray();
        Assert.Equal(128, withShared.Sum(c => c.SharedPages));
        if (sharedChunks) Assert.All(withShared, c => Assert.True(c.SharedSet && c.PrivatePages == 0));
        else Assert.All(withShared, c => Assert.True(!c.SharedSet && c.PrivatePages > 0));
        rig.CheckAll();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void New_pages_fill_the_fullest_chunk_first_only_with_fullest_first(bool fullestFirst)
    {
        using var rig = new CompactionRig(placement: new ChunkPlacement(FullestFirst: fullestFirst));
        IGrouping<int, int>[] byChunk = rig.FullChunks(2, out VirtualMachine vm);
        rig.Balloon(vm, byChunk[0].Take(400)); // 112 left: the emptier
        rig.Balloon(vm, byChunk[1].Take(200)); // 312 left: the fuller

        rig.Deflate(vm, byChunk[0].Take(100));
        foreach (int p in byChunk[0].Take(100)) rig.WriteUnique(vm, p, version: 1); // they come back as new host pages

        int expected = fullestFirst ? byChunk[1].Key : byChunk[0].Key;
        Assert.All(byChunk[0].Take(100), p => Assert.Equal(expected, rig.HostPage(vm, p).ChunkId));
        rig.CheckAll();
    }
}
