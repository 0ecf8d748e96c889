using GuestMemory.Phys;

namespace GuestMemory.State;

/// <summary>
/// Where the next record of a state lands: the layout's RAM and ROM pages in address order (MMIO ranges
/// hold none), walked once per pass. Enforces the pass rules: no SKIP in the first pass, a run or record
/// never runs past the end, a pass begins only when the one before covered every page, passes numbered
/// 2, 3, ... up to <see cref="SavedStateFormat.MaxPasses"/>.
/// </summary>
/// <param name="ranges">The layout's ranges.</param>
/// <param name="entries">The staged entries, one array per range.</param>
/// <param name="incremental">True for an image that changes an image the VM already holds (a mirror's later
/// checkpoint): SKIP is then allowed in the first pass too, and means "keep the VM's page".</param>
internal sealed class PageCursor(MemoryRange[] ranges, PageEntryTable[] entries, bool incremental = false)
{
    private int _range;
    private int _index;
    private long _covered;

    /// <summary>RAM and ROM pages of the layout: the pages each pass covers.</summary>
    public long Pages { get; } = entries.Sum(e => (long)e.Length);

    /// <summary>The pass being read, from 1.</summary>
    public uint Pass { get; private set; } = 1;

    /// <summary>
    /// The staged entry of the next page; <paramref name="required"/> is the range type the record may
    /// address (null: any), so a record that does not fit its page is refused.
    /// </summary>
    public ref ulong Next(RecordType type, GuestPageType? required, out MemoryRange range)
    {
        if (_covered == Pages) throw StateErrors.Corrupt($"pass {Pass} has records for more than the layout's {Pages} pages");
        while (_index >= entries[_range].Length)
        {
            _range++;
            _index = 0;
        }
        range = ranges[_range];
        if (required is GuestPageType t && range.Type != t) throw StateErrors.Corrupt($"a {type} record for page {_index} of {range}");
        _covered++;
        return ref entries[_range][_index++];
    }

    /// <summary>
    /// The staged entry of the page at <paramref name="position"/> in the layout's page order (the order
    /// records address pages in), which must be a RAM page: a migration DUPLICATE names one.
    /// </summary>
    public ref ulong RamSlotAt(ulong position)
    {
        if (position >= (ulong)Pages) throw StateErrors.Corrupt($"position {position} is beyond the layout's {Pages} pages");
        long rest = (long)position;
        int r = 0;
        while (rest >= entries[r].Length) rest -= entries[r++].Length;
        if (ranges[r].Type != GuestPageType.Ram) throw StateErrors.Corrupt($"position {position} is a page of {ranges[r]}, not RAM");
        return ref entries[r][(int)rest];
    }

    /// <summary>Checks a run's count before its pages are visited one by one (a huge bogus count fails at once).</summary>
    public void CheckRun(in StateRecord record)
    {
        if (record.Value == 0 || record.Value > Pages - _covered)
            throw StateErrors.Corrupt($"a run of {record.Value} {record.Type} pages where {Pages - _covered} pages of pass {Pass} remain");
    }

    /// <summary>Passes over pages unchanged since the previous pass.</summary>
    public void Skip(in StateRecord record)
    {
        if (Pass == 1 && !incremental) throw StateErrors.Corrupt("a SKIP record in the first pass");
        CheckRun(record);
        for (uint n = 0; n < record.Value; n++) Next(record.Type, null, out _);
    }

    public void BeginPass(uint number)
    {
        if (number > SavedStateFormat.MaxPasses) throw StateErrors.TooLarge($"pass {number} (at most {SavedStateFormat.MaxPasses})");
        if (number != Pass + 1 || _covered != Pages) throw StateErrors.Corrupt($"pass {number} starts after {_covered} of {Pages} pages of pass {Pass}");
        Pass++;
        _range = _index = 0;
        _covered = 0;
    }

    /// <summary>At END: the last pass must have covered every page.</summary>
    public void CheckComplete()
    {
        if (_covered != Pages) throw StateErrors.Corrupt($"pass {Pass} covers {_covered} of {Pages} pages");
    }
}
