namespace GuestMemory.Gmm;

/// <summary>
/// One 2 MiB allocation chunk (seed: GMMCHUNK): the state words of its 512 host pages, its LIFO free
/// list and the counts the free sets bin it by. Every field is guarded by the <see cref="PageManager"/>
/// lock; chunk objects are pooled by the manager, so chunk churn allocates nothing in steady state.
/// </summary>
internal sealed class Chunk
{
    /// <summary>The 64-bit state word of each page, see <see cref="PageWord"/>: inline in the chunk object, so a
    /// page's word is one load away from its chunk and no array header or reference is paid per chunk.</summary>
    public PageWords Pages;

    public int Id;
    public int FreeHead = PageWord.NilIndex;
    public int FreeCount;
    public int PrivateCount;
    public int SharedCount;

    /// <summary>The free set the chunk belongs to (a VM's private set or the shared set); null while spare.</summary>
    public FreeSet? Set;
    /// <summary>
    /// True while the compactor empties the chunk: it stays in its set but sits in no bin, so no
    /// allocation lands in it, and its free pages do not count as the set's capacity.
    /// </summary>
    public bool Evacuating;
    /// <summary>The bin the chunk is linked in, or -1 when it has no free page (or no set, or is evacuating).</summary>
    public int Bin = -1;
    public Chunk? Prev, Next;

    /// <summary>A freshly committed (or recycled, already free) chunk: every page free, zero-flag as given.</summary>
    public void Reset(int id, bool zeroed)
    {
        Id = id;
        for (int i = 0; i < Paging.PagesPerChunk; i++)
            Pages[i] = PageWord.Free(i + 1 < Paging.PagesPerChunk ? i + 1 : PageWord.NilIndex, zeroed);
        FreeHead = 0;
        FreeCount = Paging.PagesPerChunk;
        PrivateCount = SharedCount = DiscardedCount = 0;
        Evacuating = false;
        Set = null;
        Bin = -1;
        Prev = Next = null;
    }

    public bool IsEmpty => FreeCount == Paging.PagesPerChunk;

    /// <summary>Free pages whose memory was given back to the host (<see cref="PageManager.DiscardFreePages"/>).</summary>
    public int DiscardedCount;

    /// <summary>Takes the most recently freed page (LIFO: its memory is likely still in cache).</summary>
    public int PopFree(out bool zeroed)
    {
        int index = FreeHead;
        ulong word = Pages[index];
        FreeHead = PageWord.NextFree(word);
        FreeCount--;
        zeroed = PageWord.IsZeroed(word);
        if (PageWord.IsDiscarded(word)) DiscardedCount--;
        return index;
    }

    public void PushFree(int index, bool zeroed)
    {
        Pages[index] = PageWord.Free(FreeHead, zeroed);
        FreeHead = index;
        FreeCount++;
    }
}

/// <summary>The 512 state words of a chunk, stored inline (indexable and convertible to a span like an array).</summary>
[System.Runtime.CompilerServices.InlineArray(Paging.PagesPerChunk)]
internal struct PageWords
{
    private ulong _first;
}
