using BenchmarkDotNet.Attributes;
using GuestMemory.Gmm;

namespace GuestMemory.Benchmarks;

/// <summary>
/// Chunk lookup by id: the flat table the Gmm uses (<see cref="ChunkIdMap"/>) against the seed's 32-entry
/// chunk TLB, for page ids spread over few chunks (the TLB hits) and over many (it misses). Per lookup.
/// </summary>
public class ChunkLookupBenchmarks
{
    private const int Lookups = 4096;
    private ChunkIdMap _table = null!;
    private ChunkTlb _tlb = null!;
    private int[] _ids = null!;

    /// <summary>Live chunks the looked-up pages are spread over.</summary>
    [Params(8, 64, 4096)]
    public int Chunks;

    [GlobalSetup]
    public void Setup()
    {
        _table = new ChunkIdMap(Chunks);
        var byId = new Dictionary<int, Chunk>();
        for (int i = 0; i < Chunks; i++)
        {
            var chunk = new Chunk();
            chunk.Reset(_table.Reserve(), zeroed: true);
            _table.Publish(chunk);
            byId.Add(chunk.Id, chunk);
        }
        _tlb = new ChunkTlb(byId);
        var random = new Random(1);
        _ids = Enumerable.Range(0, Lookups).Select(_ => random.Next(1, Chunks + 1)).ToArray();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Lookups)]
    public int FlatTable()
    {
        int sum = 0;
        foreach (int id in _ids) sum += _table[id]!.FreeCount;
        return sum;
    }

    [Benchmark(OperationsPerInvoke = Lookups)]
    public int Tlb32()
    {
        int sum = 0;
        foreach (int id in _ids) sum += _tlb.Find(id)!.FreeCount;
        return sum;
    }
}
