namespace GuestMemory.Phys;

/// <summary>What guest writes to a ROM range do.</summary>
public enum RomWriteMode
{
    /// <summary>Writes are dropped, as on real ROM.</summary>
    Ignore = 0,
    /// <summary>Writes land in the range's pages (shadow RAM initialised from the image); reset restores the image.</summary>
    Shadow = 1,
}

/// <summary>Handles guest accesses to a memory-mapped I/O range. Called outside every GuestMemory lock.</summary>
public interface IMmioHandler
{
    /// <summary>The guest reads <paramref name="destination"/>.Length bytes at <paramref name="offset"/> into the range.</summary>
    void Read(ulong offset, Span<byte> destination);

    /// <summary>The guest writes <paramref name="source"/> at <paramref name="offset"/> into the range.</summary>
    void Write(ulong offset, ReadOnlySpan<byte> source);
}

/// <summary>
/// One registered range of guest-physical address space (seed: PGMRAMRANGE): page aligned, never
/// overlapping another. RAM and ROM ranges carry one packed entry per page; MMIO ranges carry a handler.
/// The range object never changes after registration except its entries (under the VM's lock).
/// </summary>
public sealed class MemoryRange
{
    internal MemoryRange(string name, ulong start, ulong size, GuestPageType type)
    {
        Name = name;
        Start = start;
        Size = size;
        Type = type;
        // Native memory that never moves (the fast path indexes it through a raw pointer) and costs RSS only where written.
        Entries = type == GuestPageType.Mmio ? PageEntryTable.Empty : new PageEntryTable((int)(size >> Paging.PageShift));
    }

    /// <summary>A name for tools and error messages.</summary>
    public string Name { get; }
    /// <summary>First guest-physical address.</summary>
    public ulong Start { get; }
    /// <summary>Size in bytes, a multiple of the page size.</summary>
    public ulong Size { get; }
    /// <summary>One past the last address.</summary>
    public ulong End => Start + Size;
    /// <summary>RAM, ROM or MMIO.</summary>
    public GuestPageType Type { get; }
    /// <summary>Pages in the range.</summary>
    public long PageCount => (long)(Size >> Paging.PageShift);

    /// <summary>The packed guest page entries (see <see cref="GuestPage"/>); empty for MMIO.</summary>
    internal PageEntryTable Entries { get; }
    /// <summary>ROM only: the image the pages are (re)initialised from.</summary>
    internal byte[]? RomImage { get; init; }
    /// <summary>ROM only: what guest writes do.</summary>
    internal RomWriteMode RomMode { get; init; }
    /// <summary>MMIO only: who handles accesses.</summary>
    internal IMmioHandler? Mmio { get; init; }

    /// <summary>True when the address falls in this range.</summary>
    public bool Contains(ulong address) => address - Start < Size;

    /// <inheritdoc/>
    public override string ToString() => $"{Type} '{Name}' [{Start:x}, {End:x})";
}
