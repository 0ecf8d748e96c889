using System.Buffers.Binary;
using GuestMemory.Phys;

namespace GuestMemory.State;

/// <summary>One range of a saved VM's guest-physical layout. Names are not part of it: they are for people.</summary>
internal readonly record struct LayoutRange(ulong Start, ulong Size, GuestPageType Type, RomWriteMode RomMode)
{
    public long PageCount => (long)(Size >> Paging.PageShift);
    public bool HasPages => Type != GuestPageType.Mmio;
}

/// <summary>
/// The RAM/ROM/MMIO layout a saved state was taken from. A state restores only into a VM with the very
/// same layout (every range's start, size, type and ROM write mode), because records address pages by
/// their position in it: the RAM and ROM pages in address order, MMIO ranges holding none.
/// </summary>
internal sealed class StateLayout
{
    public StateLayout(IReadOnlyList<LayoutRange> ranges)
    {
        Ranges = ranges;
        Pages = ranges.Where(r => r.HasPages).Sum(r => r.PageCount);
        RamPages = ranges.Where(r => r.Type == GuestPageType.Ram).Sum(r => r.PageCount);
    }

    public IReadOnlyList<LayoutRange> Ranges { get; }

    /// <summary>RAM and ROM pages: the pages each pass of records covers.</summary>
    public long Pages { get; }

    /// <summary>RAM pages: the most that can be zero or ballooned.</summary>
    public long RamPages { get; }

    /// <summary>The layout of a VM's memory as it is now.</summary>
    public static StateLayout Of(IReadOnlyList<MemoryRange> ranges) =>
        new(ranges.Select(r => new LayoutRange(r.Start, r.Size, r.Type, r.Type == GuestPageType.Rom ? r.RomMode : RomWriteMode.Ignore)).ToArray());

    public bool SameAs(StateLayout other) => Ranges.SequenceEqual(other.Ranges);

    public override string ToString() =>
        string.Join(", ", Ranges.Select(r => $"{r.Type}{(r.Type == GuestPageType.Rom ? $"/{r.RomMode}" : "")} [{r.Start:x}, +{r.Size:x})"));

    /// <summary>Writes the range table (<see cref="SavedStateFormat.RangeEntryBytes"/> per range).</summary>
    public void WriteTo(Span<byte> table)
    {
        for (int i = 0; i < Ranges.Count; i++)
        {
            Span<byte> entry = table.Slice(i * SavedStateFormat.RangeEntryBytes, SavedStateFormat.RangeEntryBytes);
            entry.Clear();
            BinaryPrimitives.WriteUInt64LittleEndian(entry, Ranges[i].Start);
            BinaryPrimitives.WriteUInt64LittleEndian(entry[8..], Ranges[i].Size);
            entry[16] = (byte)Ranges[i].Type;
            entry[17] = (byte)Ranges[i].RomMode;
        }
    }

    /// <summary>
    /// Reads and checks a range table: known types and modes, page aligned, sorted, not overlapping,
    /// within the guest-physical limit, each range within what one range may hold.
    /// </summary>
    public static StateLayout Read(ReadOnlySpan<byte> table, int count)
    {
        var ranges = new LayoutRange[count];
        ulong end = 0;
        for (int i = 0; i < count; i++)
        {
            ReadOnlySpan<byte> entry = table.Slice(i * SavedStateFormat.RangeEntryBytes, SavedStateFormat.RangeEntryBytes);
            ulong start = BinaryPrimitives.ReadUInt64LittleEndian(entry);
            ulong size = BinaryPrimitives.ReadUInt64LittleEndian(entry[8..]);
            var type = (GuestPageType)entry[16];
            var mode = (RomWriteMode)entry[17];
            if (type is not (GuestPageType.Ram or GuestPageType.Rom or GuestPageType.Mmio) || mode is not (RomWriteMode.Ignore or RomWriteMode.Shadow)
                || (type != GuestPageType.Rom && mode != RomWriteMode.Ignore) || entry[18..].ContainsAnyExcept((byte)0))
                throw StateErrors.Corrupt($"range {i} has an unknown type or mode");
            if (size == 0 || ((start | size) & Paging.PageOffsetMask) != 0 || start < end || start >= GuestPhysicalMemory.MaxAddress || size > GuestPhysicalMemory.MaxAddress - start)
                throw StateErrors.Corrupt($"range {i} [{start:x}, +{size:x}) is empty, unaligned, out of order or beyond the guest-physical limit");
            if ((size >> Paging.PageShift) > int.MaxValue)
                throw StateErrors.TooLarge($"range {i} has {size >> Paging.PageShift} pages, more than one range may hold");
            ranges[i] = new LayoutRange(start, size, type, mode);
            end = start + size;
        }
        return new StateLayout(ranges);
    }
}
