using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using GuestMemory.Fusion;

namespace GuestMemory.Migration;

/// <summary>
/// What names a page's content on the wire: the 64-bit <see cref="PageHash"/> (the hash page fusion and
/// the saved state use, by which the target finds candidates) and a second, independent 64-bit check
/// hash. A content reference replaces 4 KiB of bytes that never cross the wire, so the receiver cannot
/// compare bytes the way fusion does: the 128-bit key is the comparison.
/// </summary>
/// <remarks>
/// <para><b>Why a second hash.</b> <see cref="PageHash"/> is four CRC32C lanes over interleaved words: a
/// difference confined to one lane collides with probability about 2^-32, too weak to stand for
/// equality. The check hash takes the same words in another grouping (four lanes over the page's four
/// contiguous quarters, other seeds), so a difference confined to one lane of either hash is spread over
/// all four lanes of the other; both must collide at once. CRC collisions can be built on purpose, but
/// only by someone who knows the content collided with; a guest can then only give itself that
/// content, never reach another VM's page (shared pages are copy-on-write).</para>
/// <para><b>Cost.</b> Each hash is four independent CRC32C chains on the CPU's CRC instruction, about
/// 14 GB/s from cache here; the source hashes each page right after copying it.</para>
/// </remarks>
internal readonly record struct ContentKey(ulong Hash, ulong Check)
{
    public const int Bytes = 16;
    private const uint Seed0 = 0x165667B1, Seed1 = 0xD3A2646C, Seed2 = 0xFD7046C5, Seed3 = 0xB55A4F09;
    private const int Quarter = Paging.PageSize / 4;

    /// <summary>The key of one page.</summary>
    public static ContentKey Of(ReadOnlySpan<byte> page) => new(PageHash.Compute(page), CheckHash(page));

    public void WriteTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(destination, Hash);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[sizeof(ulong)..], Check);
    }

    public static ContentKey Read(ReadOnlySpan<byte> source) =>
        new(BinaryPrimitives.ReadUInt64LittleEndian(source), BinaryPrimitives.ReadUInt64LittleEndian(source[sizeof(ulong)..]));

    /// <summary>Four CRC32C lanes, lane k over the k-th quarter of the page, folded like <see cref="PageHash"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static ulong CheckHash(ReadOnlySpan<byte> page)
    {
        if (page.Length != Paging.PageSize) throw new ArgumentException($"a page is {Paging.PageSize} bytes, not {page.Length}", nameof(page));
        ref byte start = ref MemoryMarshal.GetReference(page);
        uint a = Seed0, b = Seed1, c = Seed2, d = Seed3;
        for (nuint offset = 0; offset < Quarter; offset += sizeof(ulong))
        {
            a = BitOperations.Crc32C(a, PageHash.Word(ref start, offset));
            b = BitOperations.Crc32C(b, PageHash.Word(ref start, offset + Quarter));
            c = BitOperations.Crc32C(c, PageHash.Word(ref start, offset + 2 * Quarter));
            d = BitOperations.Crc32C(d, PageHash.Word(ref start, offset + 3 * Quarter));
        }
        return PageHash.Mix(((ulong)c << 32 | a) ^ PageHash.Mix((ulong)b << 32 | d));
    }

    public override string ToString() => $"{Hash:x16}:{Check:x16}";
}
