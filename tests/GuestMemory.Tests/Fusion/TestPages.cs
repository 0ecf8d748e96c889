namespace GuestMemory.Tests.Fusion;

/// <summary>Deterministic 4 KiB page contents for fusion tests (no dependency on System.Random's algorithm).</summary>
internal static class TestPages
{
    public static byte[] Zero() => new byte[Paging.PageSize];

    /// <summary>A page of pseudo-random bytes determined by <paramref name="seed"/> (SplitMix64).</summary>
    public static byte[] Filled(ulong seed)
    {
        var page = new byte[Paging.PageSize];
        ulong state = seed;
        for (int i = 0; i < page.Length; i += 8)
            BitConverter.TryWriteBytes(page.AsSpan(i), SplitMix64(ref state));
        return page;
    }

    /// <summary>Bytes 0, 1, ..., 255, 0, 1, ... over the page.</summary>
    public static byte[] Pattern()
    {
        var page = new byte[Paging.PageSize];
        for (int i = 0; i < page.Length; i++) page[i] = (byte)i;
        return page;
    }

    /// <summary>A copy of <paramref name="page"/> with one byte changed.</summary>
    public static byte[] WithByte(byte[] page, int offset, byte value)
    {
        byte[] copy = (byte[])page.Clone();
        copy[offset] = value;
        return copy;
    }

    public static ulong SplitMix64(ref ulong state)
    {
        ulong z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
