namespace GuestMemory.Gmm;

public sealed partial class PageManager
{
    /// <inheritdoc/>
    public long SettleFreedPages() => _options.ReturnFreedPagesAtOnce ? DiscardFreePages() : 0;

    /// <summary>
    /// Gives the free pages inside chunks that are still in use back to the host, one madvise per run
    /// of free pages, and returns how many went. Whole free chunks already go back when they empty;
    /// this covers the pages that sharing, zero-page detection and ballooning free here and there.
    /// A discarded page reads as zero, so allocating it later needs no clearing. Spare chunks are kept.
    /// </summary>
    /// <remarks>Splits the chunk's huge page, if it had one: the price of returning memory without moving pages.</remarks>
    public long DiscardFreePages()
    {
        using (_lock.EnterScope())
        {
            long discarded = 0;
            foreach (Chunk chunk in _chunks.All())
            {
                if (chunk.Set == null || chunk.FreeCount == chunk.DiscardedCount) continue;
                for (int index = 0; index < Paging.PagesPerChunk;)
                {
                    if (!IsDiscardable(chunk.Pages[index])) { index++; continue; }
                    int run = 1;
                    while (index + run < Paging.PagesPerChunk && IsDiscardable(chunk.Pages[index + run])) run++;
                    Host.Discard(PageId.From(chunk.Id, index), run);
                    for (int i = index; i < index + run; i++) chunk.Pages[i] = PageWord.Discarded(chunk.Pages[i]);
                    chunk.DiscardedCount += run;
                    discarded += run;
                    index += run;
                }
            }
            _discardedPages += discarded;
            return discarded;
        }

        static bool IsDiscardable(ulong word) => PageWord.State(word) == HostPageState.Free && !PageWord.IsDiscarded(word);
    }
}
