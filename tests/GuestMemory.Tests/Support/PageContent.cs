using System.Buffers.Binary;
using GuestMemory.Gmm;

namespace GuestMemory.Tests.Support;

/// <summary>
/// Patterns written into real page memory by model tests: an 8-byte tag unique to the allocation, then a
/// fill byte unique to the owner. A page that leaks between owners, or is handed out twice, shows up here.
/// </summary>
internal static class PageContent
{
    public static void Write(Span<byte> page, long tag, byte fill)
    {
        page.Fill(fill);
        BinaryPrimitives.WriteInt64LittleEndian(page, tag);
    }

    public static void AssertHolds(ReadOnlySpan<byte> page, long tag, byte fill, PageId id)
    {
        long found = BinaryPrimitives.ReadInt64LittleEndian(page);
        int stray = page[8..].IndexOfAnyExcept(fill);
        if (found != tag || stray >= 0)
            Assert.Fail($"{id} should hold tag {tag} filled with {fill:x2}; it has tag {found}{(stray >= 0 ? $" and byte {page[8 + stray]:x2} at {8 + stray}" : "")}");
    }

    public static void AssertZero(ReadOnlySpan<byte> page, PageId id)
    {
        int at = page.IndexOfAnyExcept((byte)0);
        if (at >= 0) Assert.Fail($"{id} was handed out as zeroed but byte {at} is {page[at]:x2}");
    }
}
