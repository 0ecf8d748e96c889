using GuestMemory.Gmm;

namespace GuestMemory.Benchmarks;

/// <summary>
/// The seed's chunk lookup, for comparison with <see cref="ChunkIdMap"/>: a 32-entry direct-mapped TLB
/// (slot <c>id &amp; 31</c>) in front of a search structure, here a dictionary (the seed uses an AVL tree).
/// </summary>
internal sealed class ChunkTlb(IReadOnlyDictionary<int, Chunk> chunks)
{
    private const int Entries = 32;
    private readonly int[] _ids = new int[Entries];
    private readonly Chunk?[] _chunks = new Chunk?[Entries];

    public Chunk? Find(int id)
    {
        int slot = id & (Entries - 1);
        if (_ids[slot] == id) return _chunks[slot];
        Chunk? chunk = chunks.GetValueOrDefault(id);
        _ids[slot] = id;
        _chunks[slot] = chunk;
        return chunk;
    }
}
