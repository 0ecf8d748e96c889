using System.Buffers.Binary;

namespace GuestMemory.State;

/// <summary>
/// The header of a saved state: format, layout and the counts a restore needs before the first page
/// arrives. <see cref="NonZeroPages"/> is the seed's "number of non-zero pages in the saved state",
/// which the restore reserves and allocates up front so that the Gmm can refuse before anything changes.
/// </summary>
/// <remarks>
/// For a save of a paused VM the counts are exact. A live save writes them from its first pass; pages
/// that later passes turn non-zero are allocated as their records arrive (still before the VM changes),
/// and END carries the exact figures of the final image.
/// </remarks>
internal sealed record StateHeader(StateLayout Layout, long NonZeroPages, long SharedContents, long BalloonedPages)
{
    private const int CountsOffset = 32;

    public int Length => SavedStateFormat.HeaderFixedBytes + Layout.Ranges.Count * SavedStateFormat.RangeEntryBytes + sizeof(uint);

    /// <summary>Serialises the header, CRC included; returns that CRC (the first link of the file check).</summary>
    public uint WriteTo(Span<byte> buffer)
    {
        Span<byte> header = buffer[..Length];
        header.Clear();
        SavedStateFormat.Magic.CopyTo(header);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], SavedStateFormat.Version);
        BinaryPrimitives.WriteUInt32LittleEndian(header[12..], (uint)Length);
        BinaryPrimitives.WriteUInt32LittleEndian(header[16..], Paging.PageSize);
        BinaryPrimitives.WriteUInt32LittleEndian(header[24..], (uint)Layout.Ranges.Count);
        BinaryPrimitives.WriteInt64LittleEndian(header[CountsOffset..], Layout.Pages);
        BinaryPrimitives.WriteInt64LittleEndian(header[(CountsOffset + 8)..], NonZeroPages);
        BinaryPrimitives.WriteInt64LittleEndian(header[(CountsOffset + 16)..], SharedContents);
        BinaryPrimitives.WriteInt64LittleEndian(header[(CountsOffset + 24)..], BalloonedPages);
        Layout.WriteTo(header[SavedStateFormat.HeaderFixedBytes..]);
        uint crc = Crc32C.Compute(header[..^sizeof(uint)]);
        BinaryPrimitives.WriteUInt32LittleEndian(header[^sizeof(uint)..], crc);
        return crc;
    }

    /// <summary>
    /// Reads and checks a header: magic, version, a length within <see cref="SavedStateFormat.MaxHeaderBytes"/>
    /// (checked before the rest is read), CRC, fields, layout, and counts that fit the layout.
    /// </summary>
    public static StateHeader Read(StreamSource source, out uint crc)
    {
        Span<byte> start = stackalloc byte[16];
        source.ReadExactly(start, "the header");
        if (!start[..8].SequenceEqual(SavedStateFormat.Magic)) throw StateErrors.Corrupt("it does not start with the GMMSTATE magic");
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(start[8..]);
        if (version != SavedStateFormat.Version) throw StateErrors.Version(version);
        uint length = BinaryPrimitives.ReadUInt32LittleEndian(start[12..]);
        if (length > SavedStateFormat.MaxHeaderBytes) throw StateErrors.TooLarge($"a header of {length} bytes (at most {SavedStateFormat.MaxHeaderBytes})");
        int tableBytes = (int)length - SavedStateFormat.HeaderFixedBytes - sizeof(uint);
        if (tableBytes < SavedStateFormat.RangeEntryBytes || tableBytes % SavedStateFormat.RangeEntryBytes != 0)
            throw StateErrors.Corrupt($"a header of {length} bytes holds no whole range table");

        byte[] header = new byte[length];
        start.CopyTo(header);
        source.ReadExactly(header.AsSpan(start.Length), "the header");
        crc = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(header.Length - sizeof(uint)));
        if (Crc32C.Compute(header.AsSpan(0, header.Length - sizeof(uint))) != crc) throw StateErrors.Corrupt("the header CRC does not match");

        ReadOnlySpan<byte> h = header;
        if (BinaryPrimitives.ReadUInt32LittleEndian(h[16..]) != Paging.PageSize) throw StateErrors.Corrupt("the page size is not 4096");
        if (BinaryPrimitives.ReadUInt32LittleEndian(h[20..]) != 0 || BinaryPrimitives.ReadUInt32LittleEndian(h[28..]) != 0) throw StateErrors.Corrupt("unknown header flags");
        int ranges = tableBytes / SavedStateFormat.RangeEntryBytes;
        if (BinaryPrimitives.ReadUInt32LittleEndian(h[24..]) != ranges) throw StateErrors.Corrupt("the range count does not match the header length");
        StateLayout layout = StateLayout.Read(h.Slice(SavedStateFormat.HeaderFixedBytes, tableBytes), ranges);
        long pages = BinaryPrimitives.ReadInt64LittleEndian(h[CountsOffset..]);
        if (pages != layout.Pages) throw StateErrors.Corrupt($"the header counts {pages} pages, its layout {layout.Pages}");
        var result = new StateHeader(layout,
            BinaryPrimitives.ReadInt64LittleEndian(h[(CountsOffset + 8)..]),
            BinaryPrimitives.ReadInt64LittleEndian(h[(CountsOffset + 16)..]),
            BinaryPrimitives.ReadInt64LittleEndian(h[(CountsOffset + 24)..]));
        result.CheckCounts();
        return result;
    }

    /// <summary>Declared counts beyond what the layout can hold make the file oversized: refused before anything is allocated.</summary>
    private void CheckCounts()
    {
        if (NonZeroPages < 0 || NonZeroPages > Layout.Pages) throw StateErrors.TooLarge($"{NonZeroPages} non-zero pages declared for a layout of {Layout.Pages} pages");
        if (SharedContents < 0 || SharedContents > NonZeroPages) throw StateErrors.TooLarge($"{SharedContents} shared contents declared for {NonZeroPages} non-zero pages");
        if (BalloonedPages < 0 || BalloonedPages > Layout.RamPages || BalloonedPages + NonZeroPages > Layout.Pages)
            throw StateErrors.TooLarge($"{BalloonedPages} ballooned pages declared beside {NonZeroPages} non-zero pages in {Layout.RamPages} RAM pages");
    }
}
