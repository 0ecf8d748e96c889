using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace GuestMemory.Fusion;

/// <summary>
/// A fast 64-bit hash of one 4 KiB page: four interleaved CRC32C lanes (each takes every fourth 8-byte
/// word, so the CPU's CRC32 unit works on four independent chains at once) folded into 64 bits by two
/// rounds of a 64-bit finaliser. <see cref="BitOperations.Crc32C(uint, ulong)"/> is the BCL's hardware
/// CRC32C (SSE4.2 on x86-64, the CRC extension on arm64, a table otherwise). The hash only picks
/// candidates: every merge is decided by a byte-by-byte comparison.
/// </summary>
/// <remarks>
/// <para><b>Why the fold is not a plain XOR.</b> CRC is linear, so XOR-ing the lanes (even rotated) lets
/// the linear relations of different lanes cancel: two pages that differ in one bit each, in two
/// different lanes, could hash alike far more often than 2^-64. Mixing one lane pair non-linearly
/// before the other is folded in removes that structure.</para>
/// <para><b>Strength.</b> 128 bits of lane state, so a difference confined to one lane collides with
/// probability about 2^-32 (and never for differences CRC32C always detects, such as up to three
/// flipped bits); anything else behaves like a 64-bit hash. CRC collisions can be constructed on
/// purpose: a guest can make its pages collide with others', which costs the scanner a comparison and
/// never merges different pages.</para>
/// <para><b>Why not XXH3.</b> System.IO.Hashing's XXH3 hashes a page in the same time (120 ns against
/// 124 ns here, XXH64 334 ns: <c>gmm bench micro --filter *PageHashBenchmarks*</c>), and this hash is
/// part of the saved-state format and the migration wire (shared-content records, content keys): a
/// change would cost both a format version for no gain.</para>
/// </remarks>
internal static class PageHash
{
    private const uint Seed0 = 0x9E3779B9, Seed1 = 0x85EBCA6B, Seed2 = 0xC2B2AE35, Seed3 = 0x27D4EB2F;

    /// <summary>Hashes exactly one page.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // a scan calls it for every page from the start: skip the unoptimised tier
    public static ulong Compute(ReadOnlySpan<byte> page)
    {
        if (page.Length != Paging.PageSize) throw new ArgumentException($"a page is {Paging.PageSize} bytes, not {page.Length}", nameof(page));
        ref byte start = ref MemoryMarshal.GetReference(page);
        uint a = Seed0, b = Seed1, c = Seed2, d = Seed3;
        for (nuint offset = 0; offset < Paging.PageSize; offset += 4 * sizeof(ulong))
        {
            a = BitOperations.Crc32C(a, Word(ref start, offset));
            b = BitOperations.Crc32C(b, Word(ref start, offset + 8));
            c = BitOperations.Crc32C(c, Word(ref start, offset + 16));
            d = BitOperations.Crc32C(d, Word(ref start, offset + 24));
        }
        return Mix(((ulong)a << 32 | b) ^ Mix((ulong)c << 32 | d));
    }

    /// <summary>The little-endian word at <paramref name="offset"/>, without a bounds check (the length was checked once).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong Word(ref byte start, nuint offset) => Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref start, offset));

    /// <summary>The 32 bits the Gmm keeps with a shared page to detect writes in place.</summary>
    public static uint Checksum(ulong hash) => (uint)hash;

    /// <summary>MurmurHash3's 64-bit finaliser: every input bit affects every output bit.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong Mix(ulong x)
    {
        x ^= x >> 33;
        x *= 0xFF51AFD7ED558CCDUL;
        x ^= x >> 33;
        x *= 0xC4CEB9FE1A85EC53UL;
        x ^= x >> 33;
        return x;
    }
}

/// <summary>Whole-page content tests, vectorised by the BCL.</summary>
internal static class PageContent
{
    /// <summary>True when every byte is zero.</summary>
    public static bool IsZero(ReadOnlySpan<byte> page) => !page.ContainsAnyExcept((byte)0);

    /// <summary>Byte-by-byte equality.</summary>
    public static bool Equal(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b) => a.SequenceEqual(b);
}
