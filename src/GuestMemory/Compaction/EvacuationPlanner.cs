using GuestMemory.Gmm;

namespace GuestMemory.Compaction;

/// <summary>
/// Chooses the chunks a run empties. Pages moved out of a chunk go to the fullest chunks of the same
/// free set (their VM's own, or the shared set), so per set the fullest <c>ceil(used / 512)</c> chunks
/// are kept as targets and every other chunk that is at most <see cref="CompactionOptions.SparseThreshold"/>
/// full is emptied, emptiest first: the kept chunks can take every moved page, so the set ends at (or
/// near) the fewest chunks its pages need and no new chunk is committed for the moves. Orphan chunks
/// (their VM is gone) keep none: nothing is allocated there, their pages go back to their VMs' sets.
/// </summary>
internal static class EvacuationPlanner
{
    public static List<int> Pick(IReadOnlyList<ChunkOccupancy> chunks, CompactionOptions options)
    {
        int limit = (int)(options.SparseThreshold * Paging.PagesPerChunk);
        var picked = new List<ChunkOccupancy>();
        foreach (IGrouping<string, ChunkOccupancy> set in chunks.Where(c => !c.Spare && c.UsedPages > 0).GroupBy(c => c.Set))
        {
            ChunkOccupancy[] emptiestFirst = set.OrderBy(c => c.UsedPages).ToArray();
            long used = emptiestFirst.Sum(c => (long)c.UsedPages);
            int keep = set.Key == PageManager.OrphanSetName ? 0 : (int)((used + Paging.PagesPerChunk - 1) / Paging.PagesPerChunk);
            picked.AddRange(emptiestFirst.Take(emptiestFirst.Length - keep).Where(c => c.UsedPages <= limit));
        }
        return picked.OrderBy(c => c.UsedPages).Take(options.MaxChunksPerRun).Select(c => c.ChunkId).ToList();
    }
}
