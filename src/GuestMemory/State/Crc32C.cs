using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;

namespace GuestMemory.State;

/// <summary>
/// CRC-32C (Castagnoli; initial value and final xor all ones, as in iSCSI and ext4) over byte spans, on
/// the BCL's hardware CRC32C instruction (<see cref="BitOperations.Crc32C(uint, ulong)"/>: SSE4.2 on
/// x86-64, the CRC extension on arm64). No hashing package is available here; one 8-byte chain runs at
/// a few GB/s, several times the save and restore targets.
/// </summary>
internal static class Crc32C
{
    /// <summary>The CRC-32C of <paramref name="data"/>.</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => ~Update(~0u, data);

    /// <summary>The CRC-32C of the bytes of <paramref name="first"/> followed by <paramref name="second"/>.</summary>
    public static uint Compute(ReadOnlySpan<byte> first, ReadOnlySpan<byte> second) => ~Update(Update(~0u, first), second);

    /// <summary>Extends a chain of CRCs with one more: the CRC-32C of the 4 little-endian bytes of <paramref name="crc"/> appended to the chain so far.</summary>
    public static uint Chain(uint chain, uint crc)
    {
        Span<byte> bytes = stackalloc byte[sizeof(uint)];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, crc);
        return ~Update(~chain, bytes);
    }

    private static uint Update(uint crc, ReadOnlySpan<byte> data)
    {
        ReadOnlySpan<ulong> words = MemoryMarshal.Cast<byte, ulong>(data);
        foreach (ulong word in words) crc = BitOperations.Crc32C(crc, word);
        foreach (byte b in data[(words.Length * sizeof(ulong))..]) crc = BitOperations.Crc32C(crc, b);
        return crc;
    }
}
