using System.Numerics;

namespace GuestMemory.Gmm;

/// <summary>
/// A set of chunks binned by free page count (seed: GMMCHUNKFREESET): bin <c>free >> 4</c> for
/// 1..511 free pages, bin 32 for fully free chunks; chunks with no free page belong to the set but sit
/// in no bin. A bitmap of non-empty bins finds the fullest chunk with a free page in O(1), which is the
/// allocation order that keeps chunks dense. Guarded by the <see cref="PageManager"/> lock.
/// </summary>
internal sealed class FreeSet(string name)
{
    public const int BinCount = 33;
    private const int FullyFreeBin = BinCount - 1;
    private readonly Chunk?[] _heads = new Chunk?[BinCount];
    private ulong _nonEmptyBins;

    public string Name { get; } = name;
    /// <summary>Chunks in the set, with or without free pages.</summary>
    public int Chunks { get; private set; }
    /// <summary>Free pages that allocation can use: over all chunks of the set except evacuating ones.</summary>
    public long FreePages { get; private set; }

    public static int BinOf(int freeCount) => freeCount == 0 ? -1 : freeCount >= Paging.PagesPerChunk ? FullyFreeBin : freeCount >> 4;

    public void Add(Chunk chunk)
    {
        chunk.Set = this;
        Chunks++;
        if (!chunk.Evacuating) FreePages += chunk.FreeCount;
        Link(chunk);
    }

    public void Remove(Chunk chunk)
    {
        Unlink(chunk);
        Chunks--;
        if (!chunk.Evacuating) FreePages -= chunk.FreeCount;
        chunk.Evacuating = false;
        chunk.Set = null;
    }

    /// <summary>Call after a chunk's free count moved by <paramref name="freeDelta"/>.</summary>
    public void Update(Chunk chunk, int freeDelta)
    {
        if (chunk.Evacuating) return;
        FreePages += freeDelta;
        if (BinOf(chunk.FreeCount) == chunk.Bin) return;
        Unlink(chunk);
        Link(chunk);
    }

    /// <summary>Takes a chunk out of allocation while the compactor empties it.</summary>
    public void Suspend(Chunk chunk)
    {
        Unlink(chunk);
        FreePages -= chunk.FreeCount;
        chunk.Evacuating = true;
    }

    /// <summary>Gives an evacuating chunk back to allocation.</summary>
    public void Resume(Chunk chunk)
    {
        chunk.Evacuating = false;
        FreePages += chunk.FreeCount;
        Link(chunk);
    }

    /// <summary>The chunk with the fewest (but some) free pages, or null.</summary>
    public Chunk? Fullest()
    {
        if (_nonEmptyBins == 0) return null;
        return _heads[BitOperations.TrailingZeroCount(_nonEmptyBins)];
    }

    /// <summary>The chunk with the most free pages (a fully free one first), or null: the opposite order, for measuring placement.</summary>
    public Chunk? Emptiest()
    {
        if (_nonEmptyBins == 0) return null;
        return _heads[63 - BitOperations.LeadingZeroCount(_nonEmptyBins)];
    }

    /// <summary>Every chunk that has a free page, fullest bins first (for Verify and compaction).</summary>
    public IEnumerable<Chunk> ChunksWithFreePages()
    {
        for (int bin = 0; bin < BinCount; bin++)
            for (Chunk? c = _heads[bin]; c != null; c = c.Next)
                yield return c;
    }

    private void Link(Chunk chunk)
    {
        int bin = chunk.Evacuating ? -1 : BinOf(chunk.FreeCount);
        chunk.Bin = bin;
        if (bin < 0) return;
        chunk.Prev = null;
        chunk.Next = _heads[bin];
        if (chunk.Next != null) chunk.Next.Prev = chunk;
        _heads[bin] = chunk;
        _nonEmptyBins |= 1UL << bin;
    }

    private void Unlink(Chunk chunk)
    {
        int bin = chunk.Bin;
        if (bin < 0) return;
        if (chunk.Prev != null) chunk.Prev.Next = chunk.Next;
        else _heads[bin] = chunk.Next;
        if (chunk.Next != null) chunk.Next.Prev = chunk.Prev;
        if (_heads[bin] == null) _nonEmptyBins &= ~(1UL << bin);
        chunk.Prev = chunk.Next = null;
        chunk.Bin = -1;
    }
}
