using GuestMemory.Compaction;
using GuestMemory.Host;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Compaction;

/// <summary>
/// Under the seed's free policy (freed pages stay resident until their chunk empties), ballooning half of
/// every chunk returns nothing to the host; compaction then does: the resident memory of the host's
/// reservation really falls (the kernel's own count for that mapping, so the runtime's heap, which other
/// tests' garbage may shrink meanwhile, does not blur it).
/// </summary>
[Collection(RssCollection.Name)]
public sealed class ReturnedMemoryRssTests
{
    [Fact]
    public void Compaction_returns_the_memory_that_half_empty_chunks_held()
    {
        const int Pages = 64 << 20 >> Paging.PageShift; // 64 MiB per VM
        using var rig = new CompactionRig(hostMib: 256, returnFreedPagesAtOnce: false);
        VirtualMachine a = rig.AddVm(Pages), b = rig.AddVm(Pages);
        rig.FillInterleaved(Pages, a, b);
        long full = rig.Gmm.Pages.Host.ResidentBytes();
        rig.Fragment(Pages, a, b); // rewrites the same pages, then balloons every other one
        long fragmented = rig.Gmm.Pages.Host.ResidentBytes();
        int chunksBefore = rig.ChunksInUse;
        Assert.True(full - fragmented < Pages * (long)Paging.PageSize / 4, $"ballooning 64 MiB let RSS fall by {(full - fragmented) >> 20} MiB already");

        CompactionResult result = rig.Compactor.Run();
        long compacted = rig.Gmm.Pages.Host.ResidentBytes();

        long released = (long)(chunksBefore - rig.ChunksInUse) * Paging.ChunkSize;
        Assert.True(released >= 60L << 20, $"{result.ChunksReleased} chunks released");
        Assert.True(fragmented - compacted >= released * 9 / 10, $"RSS fell by {(fragmented - compacted) >> 20} MiB; {released >> 20} MiB of chunks were released");
        rig.CheckAll();
    }
}
