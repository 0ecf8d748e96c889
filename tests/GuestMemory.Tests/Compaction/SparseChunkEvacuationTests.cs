using GuestMemory.Compaction;
using GuestMemory.Gmm;

namespace GuestMemory.Tests.Compaction;

/// <summary>
/// Sparse chunks are emptied into fuller ones and go back to the host: the chunks in use end at the
/// minimum the live pages need, and the run says what it did.
/// </summary>
public sealed class SparseChunkEvacuationTests
{
    [Fact]
    public void Half_empty_chunks_are_packed_into_the_fewest_the_pages_need_and_the_rest_go_back()
    {
        using var rig = new CompactionRig();
        VirtualMachine vm = rig.AddVm(pages: 4 * Paging.PagesPerChunk);
        rig.Fragment(4 * Paging.PagesPerChunk, vm);
        int before = rig.ChunksInUse;
        long freedBefore = rig.Gmm.Statistics.FreedChunks;

        CompactionResult result = rig.Compactor.Run();

        GmmStatistics s = rig.Gmm.Statistics;
        Assert.Equal(2, s.MinimumChunks);
        Assert.Equal(s.MinimumChunks, rig.ChunksInUse);
        Assert.Equal(before - rig.ChunksInUse, result.ChunksReleased);
        Assert.Equal(result.ChunksReleased, s.FreedChunks - freedBefore);
        Assert.True(result.PrivatePagesMoved > 0);
        Assert.Equal(0, result.MovesRefused);
        Assert.Equal(1.0, rig.Compactor.MeasureFragmentation().ChunkRatio);
        rig.CheckAll();
    }

    [Fact]
    public void The_fragmentation_figures_show_the_excess_before_and_none_after()
    {
        using var rig = new CompactionRig();
        VirtualMachine vm = rig.AddVm(pages: 4 * Paging.PagesPerChunk);
        rig.Fragment(4 * Paging.PagesPerChunk, vm);

        FragmentationFigures before = rig.Compactor.MeasureFragmentation();
        double statisticsBefore = rig.Gmm.Statistics.ChunkRatio;
        rig.Compactor.Run();
        FragmentationFigures after = rig.Compactor.MeasureFragmentation();

        Assert.Equal(before.ChunkRatio, statisticsBefore);
        Assert.Equal(1.0, rig.Gmm.Statistics.ChunkRatio);
        Assert.Equal(2, before.MinimumChunks);
        Assert.True(before.ExcessChunks >= 2, $"excess {before.ExcessChunks}");
        Assert.Equal(before.ChunksInUse / 2.0, before.ChunkRatio);
        Assert.Equal(0, after.ExcessChunks);
        Assert.Equal(2 * Paging.PagesPerChunk, after.AllocatedPages);
        Assert.True(after.RssBytes > 0 && after.RssPerAllocatedByte > 0);
    }

    [Fact]
    public void Chunks_fuller_than_the_threshold_stay_even_when_packing_would_free_one()
    {
        using var rig = new CompactionRig();
        IGrouping<int, int>[] byChunk = rig.FullChunks(3, out VirtualMachine vm);
        // Two chunks keep 40% of their pages: together they fit in one, but each is above a 30% threshold.
        foreach (IGrouping<int, int> chunk in byChunk.Skip(1)) rig.Balloon(vm, chunk.Skip(200));

        CompactionResult result = rig.Compactor.Run(new CompactionOptions { SparseThreshold = 0.3 });

        Assert.Equal((0, 0L), (result.ChunksEvacuated, result.PrivatePagesMoved));
        Assert.Equal(byChunk.Select(c => c.Key).ToHashSet(), rig.ChunksOf(vm));
        Assert.Equal(1, rig.Compactor.Run(new CompactionOptions { SparseThreshold = 0.5 }).ChunksEvacuated);
        Assert.Equal(2, rig.ChunksOf(vm).Count);
        rig.CheckAll();
    }

    [Fact]
    public void A_run_empties_at_most_MaxChunksPerRun_chunks_emptiest_first()
    {
        using var rig = new CompactionRig();
        IGrouping<int, int>[] byChunk = rig.FullChunks(4, out VirtualMachine vm);
        rig.Balloon(vm, byChunk[1].Skip(100)); // keeps 100
        rig.Balloon(vm, byChunk[2].Skip(50)); // keeps 50: the emptiest
        rig.Balloon(vm, byChunk[3].Skip(150));
        int emptiest = byChunk[2].Key;

        CompactionResult result = rig.Compactor.Run(new CompactionOptions { MaxChunksPerRun = 1 });

        Assert.Equal(1, result.ChunksEvacuated);
        Assert.Equal(50, result.PrivatePagesMoved);
        Assert.DoesNotContain(emptiest, rig.ChunksOf(vm));
        Assert.Contains(byChunk[1].Key, rig.ChunksOf(vm));
        rig.CheckAll();
    }

    [Fact]
    public void A_packed_manager_is_left_alone()
    {
        using var rig = new CompactionRig();
        VirtualMachine vm = rig.AddVm(pages: 4 * Paging.PagesPerChunk);
        rig.Fragment(4 * Paging.PagesPerChunk, vm);
        rig.Compactor.Run();
        PageId[] pages = Enumerable.Range(0, 2048).Select(p => rig.HostPage(vm, p)).ToArray();

        CompactionResult result = rig.Compactor.Run();

        Assert.Equal((0, 0, 0L, 0L), (result.ChunksEvacuated, result.ChunksReleased, result.PrivatePagesMoved, result.SharedPagesMoved));
        Assert.Equal(pages, Enumerable.Range(0, 2048).Select(p => rig.HostPage(vm, p)));
        Assert.Equal(2, rig.Compactor.Statistics.Runs);
        rig.CheckAll();
    }
}
