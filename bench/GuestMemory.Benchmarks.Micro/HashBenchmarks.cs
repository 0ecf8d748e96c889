using System.IO.Hashing;
using BenchmarkDotNet.Attributes;
using GuestMemory.Fusion;
using GuestMemory.State;

namespace GuestMemory.Benchmarks;

/// <summary>
/// CRC-32C of saved-state and migration records: the hand-written <see cref="Crc32C"/> (three 4 KiB lanes
/// side by side on the CPU's CRC32 instruction) against System.IO.Hashing's parameterised CRC-32
/// (<see cref="Crc32ParameterSet.Crc32C"/>). 16 bytes is a record header, 4 KiB a page record, 1 MiB the
/// largest saved-state block.
/// </summary>
public class Crc32CBenchmarks
{
    private byte[] _data = null!;

    /// <summary>Bytes per CRC.</summary>
    [Params(16, 4096, 1 << 20)]
    public int Bytes;

    [GlobalSetup]
    public void Setup()
    {
        _data = new byte[Bytes];
        new Random(1).NextBytes(_data);
        if (Crc32C.Compute(_data) != Crc32.HashToUInt32(Crc32ParameterSet.Crc32C, _data))
            throw new InvalidOperationException("the two CRC-32C implementations disagree");
    }

    [Benchmark(Baseline = true)]
    public uint HandWritten() => Crc32C.Compute(_data);

    [Benchmark]
    public uint SystemIOHashing() => Crc32.HashToUInt32(Crc32ParameterSet.Crc32C, _data);
}

/// <summary>
/// The page fusion's hash of one 4 KiB page: <see cref="PageHash"/> (four CRC32C lanes folded to 64 bits)
/// against System.IO.Hashing's XXH3 and XXH64, over pages of random content.
/// </summary>
public class PageHashBenchmarks
{
    private const int Pages = 256;
    private byte[] _pages = null!;

    [GlobalSetup]
    public void Setup()
    {
        _pages = new byte[Pages * Paging.PageSize];
        new Random(1).NextBytes(_pages);
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Pages)]
    public ulong PageHashCrc32C()
    {
        ulong sum = 0;
        for (int i = 0; i < Pages; i++) sum += PageHash.Compute(_pages.AsSpan(i * Paging.PageSize, Paging.PageSize));
        return sum;
    }

    [Benchmark(OperationsPerInvoke = Pages)]
    public ulong XxHash3()
    {
        ulong sum = 0;
        for (int i = 0; i < Pages; i++) sum += System.IO.Hashing.XxHash3.HashToUInt64(_pages.AsSpan(i * Paging.PageSize, Paging.PageSize));
        return sum;
    }

    [Benchmark(OperationsPerInvoke = Pages)]
    public ulong XxHash64()
    {
        ulong sum = 0;
        for (int i = 0; i < Pages; i++) sum += System.IO.Hashing.XxHash64.HashToUInt64(_pages.AsSpan(i * Paging.PageSize, Paging.PageSize));
        return sum;
    }
}
