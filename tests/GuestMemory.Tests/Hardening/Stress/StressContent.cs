using System.Buffers.Binary;

namespace GuestMemory.Tests.Hardening.Stress;

/// <summary>
/// What a stress guest writes: page content is a function of (VM, page, version), so a checker needs
/// only a version per page. Every third version is "image" content, the same in every VM (what fusion
/// merges); the others are the VM's own. Version 0 is a page never written: zeros.
/// </summary>
internal static class StressContent
{
    public static void Fill(Span<byte> page, int vm, int index, int version)
    {
        if (version == 0)
        {
            page.Clear();
            return;
        }
        int owner = version % 3 == 0 ? -1 : vm;
        ulong seed = (ulong)(uint)owner << 40 ^ (ulong)(uint)index << 20 ^ (uint)version;
        for (int at = 0; at < page.Length; at += sizeof(ulong))
        {
            seed = seed * 6364136223846793005UL + 1442695040888963407UL;
            BinaryPrimitives.WriteUInt64LittleEndian(page[at..], seed);
        }
    }

    public static bool Holds(ReadOnlySpan<byte> page, int vm, int index, int version, Span<byte> scratch)
    {
        Fill(scratch, vm, index, version);
        return page.SequenceEqual(scratch);
    }
}
