using System.Runtime.InteropServices;

namespace GuestMemory.Simulation;

/// <summary>
/// The recognisable content a simulated guest writes into the pages it uses: every 8-byte word derives
/// from (guest, frame, generation), so a page that lost its content, kept stale content, moved to another
/// frame or was mixed up with another guest's page reads wrong, and a page that must be empty reads zero.
/// </summary>
internal static class PagePattern
{
    /// <summary>Fills <paramref name="page"/> with the content of <paramref name="frame"/> at <paramref name="generation"/> (0 = all zero).</summary>
    public static void Fill(Span<byte> page, int guest, long frame, uint generation)
    {
        if (generation == 0)
        {
            page.Clear();
            return;
        }
        ulong seed = Mix(Mix(((ulong)(uint)guest << 40) | (ulong)frame) + generation);
        Span<ulong> words = MemoryMarshal.Cast<byte, ulong>(page);
        for (int i = 0; i < words.Length; i++) words[i] = seed + (ulong)i * 0x9E37_79B9_7F4A_7C15UL;
    }

    /// <summary>splitmix64's finaliser: nearby inputs give unrelated outputs.</summary>
    private static ulong Mix(ulong x)
    {
        x = (x ^ (x >> 30)) * 0xBF58_476D_1CE4_E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D0_49BB_1331_11EBUL;
        return x ^ (x >> 31);
    }
}
