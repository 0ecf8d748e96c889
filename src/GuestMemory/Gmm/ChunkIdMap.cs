using System.Numerics;

namespace GuestMemory.Gmm;

/// <summary>
/// Chunk ids from a bitmap (seed: bmChunkId), lowest free id first so ids stay dense, plus the flat
/// id → chunk table. A flat table beats the seed's 32-entry chunk TLB here: ids are dense and bounded
/// by the host limit, so one array index replaces a tag compare and a tree walk on a miss (see
/// ChunkLookupBenchmarks). Guarded by the <see cref="PageManager"/> lock.
/// </summary>
internal sealed class ChunkIdMap
{
    private readonly ulong[] _used;
    private readonly Chunk?[] _chunks;
    private int _searchFrom;

    public ChunkIdMap(int maxChunks)
    {
        _chunks = new Chunk?[maxChunks + 1];
        _used = new ulong[(maxChunks + 64) / 64];
        _used[0] = 1; // id 0 is NIL
        for (int id = maxChunks + 1; id < _used.Length * 64; id++) _used[id >> 6] |= 1UL << id; // past the end
    }

    public int Count { get; private set; }

    /// <summary>The chunk with this id, or null (also for ids out of range).</summary>
    public Chunk? this[int id] => (uint)id < (uint)_chunks.Length ? _chunks[id] : null;

    public IEnumerable<Chunk> All()
    {
        foreach (Chunk? c in _chunks)
            if (c != null) yield return c;
    }

    /// <summary>Reserves the lowest free id, or returns 0 when all are taken.</summary>
    public int Reserve()
    {
        for (int w = _searchFrom; w < _used.Length; w++)
        {
            if (_used[w] == ulong.MaxValue) continue;
            int bit = BitOperations.TrailingZeroCount(~_used[w]);
            _used[w] |= 1UL << bit;
            _searchFrom = w;
            return w * 64 + bit;
        }
        return 0;
    }

    public void Unreserve(int id)
    {
        _used[id >> 6] &= ~(1UL << id);
        _searchFrom = Math.Min(_searchFrom, id >> 6);
    }

    public void Publish(Chunk chunk)
    {
        _chunks[chunk.Id] = chunk;
        Count++;
    }

    public void Remove(int id)
    {
        _chunks[id] = null;
        Count--;
        Unreserve(id);
    }

    public bool IsReserved(int id) => (_used[id >> 6] & (1UL << id)) != 0;
}
