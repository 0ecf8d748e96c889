using System.Buffers.Binary;

namespace GuestMemory.Tests.Fusion;

/// <summary>
/// An independent, byte-at-a-time software model of <see cref="GuestMemory.Fusion.PageHash"/>: a
/// table-driven CRC32C (Castagnoli, reflected polynomial 0x82F63B78, no pre/post inversion, like the
/// CRC32 instruction) over four interleaved lanes of 8-byte words, folded as fmix64(ab ^ fmix64(cd)) with MurmurHash3's fmix64.
/// It checks the hardware path (<see cref="System.Numerics.BitOperations.Crc32C(uint, ulong)"/>)
/// against plain arithmetic.
/// </summary>
internal static class ScalarPageHash
{
    private const uint Polynomial = 0x82F63B78;
    private static readonly uint[] Table = BuildTable();

    /// <summary>Runs the CRC register over <paramref name="bytes"/> (no inversion).</summary>
    public static uint Crc32C(uint crc, ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes) crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc;
    }

    /// <summary>The standard CRC-32C of a message (initial value and final XOR all ones).</summary>
    public static uint StandardCrc32C(ReadOnlySpan<byte> message) => ~Crc32C(~0u, message);

    /// <summary>Same as <c>BitOperations.Crc32C(crc, word)</c>: the word's 8 bytes, little-endian.</summary>
    public static uint Crc32C(uint crc, ulong word)
    {
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, word);
        return Crc32C(crc, bytes);
    }

    public static ulong Hash(ReadOnlySpan<byte> page)
    {
        uint[] lanes = [0x9E3779B9, 0x85EBCA6B, 0xC2B2AE35, 0x27D4EB2F];
        for (int offset = 0; offset < page.Length; offset += 8)
        {
            int lane = offset / 8 % 4;
            lanes[lane] = Crc32C(lanes[lane], page.Slice(offset, 8));
        }
        ulong ab = (ulong)lanes[0] << 32 | lanes[1], cd = (ulong)lanes[2] << 32 | lanes[3];
        return FinalMix(ab ^ FinalMix(cd));
    }

    private static ulong FinalMix(ulong x)
    {
        x ^= x >> 33;
        x *= 0xFF51AFD7ED558CCDUL;
        x ^= x >> 33;
        x *= 0xC4CEB9FE1A85EC53UL;
        return x ^ (x >> 33);
    }

    private static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? (c >> 1) ^ Polynomial : c >> 1;
            table[i] = c;
        }
        return table;
    }
}
