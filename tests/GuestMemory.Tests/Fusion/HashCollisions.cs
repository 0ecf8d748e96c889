namespace GuestMemory.Tests.Fusion;

/// <summary>
/// Makes a page that differs from a given one but has the same <see cref="GuestMemory.Fusion.PageHash"/>.
/// CRC is linear over GF(2): changing lane 0's first word by Δ0 and its second word (8-byte word 4) by Δ4
/// leaves the lane's final CRC unchanged when crc(crc(0, Δ0), 0) = crc(0, Δ4); Δ4 is found by Gaussian
/// elimination over the CRCs of the 64 single-bit words. The other lanes are untouched, so the whole
/// hash collides. Used to prove that the byte-by-byte comparison, not the hash, decides.
/// </summary>
internal static class HashCollisions
{
    public static byte[] SameHashOtherBytes(byte[] page)
    {
        const ulong delta0 = 0x0123_4567_89AB_CDEF;
        uint target = ScalarPageHash.Crc32C(ScalarPageHash.Crc32C(0u, delta0), 0UL);
        ulong delta4 = Preimage(target);
        byte[] twin = (byte[])page.Clone();
        Xor(twin, 0, delta0);
        Xor(twin, 4 * 8, delta4);
        return twin;
    }

    private static void Xor(byte[] page, int offset, ulong delta) =>
        BitConverter.TryWriteBytes(page.AsSpan(offset), BitConverter.ToUInt64(page, offset) ^ delta);

    /// <summary>A 64-bit word w with crc(0, w) = <paramref name="target"/>.</summary>
    private static ulong Preimage(uint target)
    {
        var value = new uint[32];
        var combination = new ulong[32];
        var present = new bool[32];
        for (int k = 0; k < 64; k++)
        {
            uint v = ScalarPageHash.Crc32C(0u, 1UL << k);
            ulong c = 1UL << k;
            for (int bit = 31; bit >= 0 && v != 0; bit--)
            {
                if ((v >> bit & 1) == 0) continue;
                if (!present[bit])
                {
                    (value[bit], combination[bit], present[bit]) = (v, c, true);
                    break;
                }
                v ^= value[bit];
                c ^= combination[bit];
            }
        }
        ulong word = 0;
        for (int bit = 31; bit >= 0; bit--)
        {
            if ((target >> bit & 1) == 0) continue;
            if (!present[bit]) throw new InvalidOperationException("the single-bit CRCs do not span 32 bits");
            target ^= value[bit];
            word ^= combination[bit];
        }
        return word;
    }
}
