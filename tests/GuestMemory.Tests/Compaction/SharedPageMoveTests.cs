using GuestMemory.Compaction;
using GuestMemory.Gmm;
using GuestMemory.Phys;
using GuestMemory.Tests.Fusion;

namespace GuestMemory.Tests.Compaction;

/// <summary>
/// A shared page moves once and every guest page that names it follows: copy-on-write still works on the
/// moved page, and page fusion still finds it as the share target for new duplicates.
/// </summary>
public sealed class SharedPageMoveTests
{
    private const int Contents = 600; // two shared chunks: 512 + 88

    [Fact]
    public void Every_user_of_a_moved_shared_page_switches_to_the_copy_and_the_old_chunk_goes_back()
    {
        using var rig = SharedInTwoChunks(out VirtualMachine a, out VirtualMachine b, out int[] inSparseChunk);
        int sparseChunk = rig.HostPage(a, inSparseChunk[0]).ChunkId;

        CompactionResult result = rig.Compactor.Run();

        Assert.Equal(inSparseChunk.Length, result.SharedPagesMoved);
        Assert.Equal(0, result.MovesRefused);
        foreach (int p in inSparseChunk)
        {
            Assert.Equal(GuestPageState.Shared, rig.Info(a, p).State);
            Assert.Equal(rig.HostPage(a, p), rig.HostPage(b, p));
            Assert.NotEqual(sparseChunk, rig.HostPage(a, p).ChunkId);
            Assert.Equal(2u, rig.Gmm.Pages.GetSharedPageInfo(rig.HostPage(a, p)).References);
        }
        Assert.DoesNotContain(sparseChunk, rig.Gmm.Pages.GetChunkOccupancy().Select(c => c.ChunkId));
        Assert.Single(rig.Gmm.Pages.GetChunkOccupancy(), c => c.SharedSet);
        rig.CheckAll();
    }

    [Fact]
    public void Copy_on_write_breaks_a_moved_shared_page_for_the_writer_only()
    {
        using var rig = SharedInTwoChunks(out VirtualMachine a, out VirtualMachine b, out int[] inSparseChunk);
        rig.Compactor.Run();
        int page = inSparseChunk[0];
        PageId shared = rig.HostPage(b, page);

        rig.WriteUnique(a, page, version: 9);

        Assert.Equal(GuestPageState.Allocated, rig.Info(a, page).State);
        Assert.Equal(shared, rig.HostPage(b, page));
        Assert.Equal(GuestPageState.Shared, rig.Info(b, page).State);
        rig.Gmm.ReclaimRetiredPages();
        Assert.Equal(1u, rig.Gmm.Pages.GetSharedPageInfo(shared).References);
        rig.CheckAll();
    }

    [Fact]
    public void Fusion_joins_a_new_duplicate_to_the_moved_page_instead_of_making_another()
    {
        using var rig = SharedInTwoChunks(out VirtualMachine a, out _, out int[] inSparseChunk);
        rig.Compactor.Run();
        int page = inSparseChunk[0];
        PageId moved = rig.HostPage(a, page);
        long created = rig.Gmm.Fusion.Statistics.SharedPagesCreated;
        VirtualMachine c = rig.AddVm(Contents, sharing: true);

        rig.Write(c, 0, rig.Expected(a, page));
        RunFusionUntilConverged(rig);

        Assert.Equal(GuestPageState.Shared, rig.Info(c, 0).State);
        Assert.Equal(moved, rig.HostPage(c, 0));
        Assert.Equal(created, rig.Gmm.Fusion.Statistics.SharedPagesCreated);
        rig.CheckAll();
    }

    [Fact]
    public void A_shared_page_one_user_has_mapped_moves_for_the_others_and_stays_for_the_mapping()
    {
        using var rig = SharedInTwoChunks(out VirtualMachine a, out VirtualMachine b, out int[] inSparseChunk);
        int page = inSparseChunk[0];
        PageId old = rig.HostPage(a, page);

        ReadMapping mapping = a.Memory.MapForRead(CompactionRig.Address(page));
        rig.Compactor.Run();
        bool intact = mapping.Span.SequenceEqual(rig.Expected(a, page));
        mapping.Dispose();

        Assert.True(intact);
        Assert.Equal(old, rig.HostPage(a, page));
        Assert.NotEqual(old, rig.HostPage(b, page));
        rig.CheckAll();
    }

    /// <summary>
    /// Two VMs share <see cref="Contents"/> pages (fusion fills a shared chunk and part of a second); then
    /// both write over the first 200 pages, so the first shared chunk has room for the second's pages.
    /// Returns the pages whose shared page sits in the second, sparse, chunk.
    /// </summary>
    private static CompactionRig SharedInTwoChunks(out VirtualMachine a, out VirtualMachine b, out int[] inSparseChunk)
    {
        var rig = new CompactionRig();
        a = rig.AddVm(Contents, sharing: true);
        b = rig.AddVm(Contents, sharing: true);
        for (int p = 0; p < Contents; p++)
        {
            byte[] content = TestPages.Filled(1_000_000 + (ulong)p);
            rig.Write(a, p, content);
            rig.Write(b, p, content);
        }
        RunFusionUntilConverged(rig);
        VirtualMachine first = a;
        int[] shared = Enumerable.Range(0, Contents).Where(p => rig.Info(first, p).State == GuestPageState.Shared).ToArray();
        Assert.Equal(Contents, shared.Length);
        int fullChunk = shared.GroupBy(p => rig.HostPage(first, p).ChunkId).OrderByDescending(g => g.Count()).First().Key;
        int[] inFull = shared.Where(p => rig.HostPage(first, p).ChunkId == fullChunk).ToArray();
        inSparseChunk = shared.Where(p => rig.HostPage(first, p).ChunkId != fullChunk).ToArray();
        Assert.Equal(Contents - Paging.PagesPerChunk, inSparseChunk.Length);
        foreach (int p in inFull.Take(200))
        {
            rig.WriteUnique(a, p, version: 1);
            rig.WriteUnique(b, p, version: 1);
        }
        rig.Gmm.ReclaimRetiredPages();
        rig.SettleHandyPages();
        return rig;
    }

    private static void RunFusionUntilConverged(CompactionRig rig)
    {
        for (int pass = 0; pass < 10; pass++)
            if (rig.Gmm.Fusion.RunPass().Converged) return;
        throw new InvalidOperationException("fusion did not converge");
    }
}
