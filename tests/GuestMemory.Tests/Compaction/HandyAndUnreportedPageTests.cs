using GuestMemory.Gmm;

namespace GuestMemory.Tests.Compaction;

/// <summary>
/// Pages the Gmm cannot place do not pin a chunk: a VM's handy pages go back before the run, and pages put
/// to use since the last refill (whose guest frame the Gmm has not been told yet) are reported and moved.
/// </summary>
public sealed class HandyAndUnreportedPageTests
{
    [Fact]
    public void A_chunk_that_holds_only_handy_pages_goes_back_and_the_vm_refills_elsewhere()
    {
        using var rig = new CompactionRig();
        VirtualMachine vm = rig.AddVm(2048);
        rig.FillInterleaved(590, vm);
        IGrouping<int, int>[] byChunk = rig.PagesByChunk(vm);
        Assert.Equal(2, byChunk.Length);
        rig.Balloon(vm, byChunk[1]); // the second chunk keeps only the handy pages
        rig.Balloon(vm, byChunk[0].Where(p => p % 2 == 0));
        Assert.True(vm.Memory.GetStatistics().HandyPages > 0);

        rig.Compactor.Run();

        Assert.Equal(0, vm.Memory.GetStatistics().HandyPages);
        Assert.Equal(1, rig.ChunksInUse);
        Assert.DoesNotContain(byChunk[1].Key, rig.Gmm.Pages.GetChunkOccupancy().Select(c => c.ChunkId));
        rig.WriteUnique(vm, 2000);
        rig.CheckAll();
    }

    [Fact]
    public void Pages_put_to_use_since_the_last_refill_are_moved_out_of_a_sparse_chunk()
    {
        using var rig = new CompactionRig();
        VirtualMachine vm = rig.AddVm(2048);
        rig.FillInterleaved(590, vm); // handy pages are refilled (and used ones reported) every 120 writes: the last 110 are not reported yet
        int[] unreported = Enumerable.Range(0, 590)
            .Where(p => rig.Gmm.Pages.GetPrivatePageInfo(rig.HostPage(vm, p)).GuestFrame == PageDescriptor.NoGuestFrame)
            .ToArray();
        Assert.NotEmpty(unreported);
        int chunk = rig.HostPage(vm, unreported[^1]).ChunkId;
        // That chunk keeps only its unreported pages (and handy pages); every other chunk loses half its pages.
        rig.Balloon(vm, Enumerable.Range(0, 590).Where(p => !unreported.Contains(p) && (rig.HostPage(vm, p).ChunkId == chunk || p % 2 == 0)));
        int[] stayed = unreported.Where(p => rig.HostPage(vm, p).ChunkId == chunk).ToArray();

        rig.Compactor.Run();

        Assert.All(stayed, p => Assert.NotEqual(chunk, rig.HostPage(vm, p).ChunkId));
        Assert.DoesNotContain(chunk, rig.Gmm.Pages.GetChunkOccupancy().Select(c => c.ChunkId));
        Assert.All(unreported, p => Assert.Equal((ulong)p, rig.Gmm.Pages.GetPrivatePageInfo(rig.HostPage(vm, p)).GuestFrame));
        rig.CheckAll();
    }
}
