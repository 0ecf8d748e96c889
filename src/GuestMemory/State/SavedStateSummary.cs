namespace GuestMemory.State;

/// <summary>What a save wrote. Page figures count records over all passes (a run counts each of its pages).</summary>
public sealed record SavedStateSummary
{
    /// <summary>Bytes of the saved state, header to END.</summary>
    public long Bytes { get; init; }
    /// <summary>Passes over guest memory (1 for a paused save).</summary>
    public int Passes { get; init; }
    /// <summary>Pages written as ZERO (no data), including private pages found all zero.</summary>
    public long ZeroPages { get; init; }
    /// <summary>Pages written as RAW (4 KiB each).</summary>
    public long RawPages { get; init; }
    /// <summary>Pages written as ROM (4 KiB each).</summary>
    public long RomPages { get; init; }
    /// <summary>Distinct shared contents written (4 KiB each).</summary>
    public long SharedContents { get; init; }
    /// <summary>Pages written as a reference to an earlier shared content (no data).</summary>
    public long SharedReferences { get; init; }
    /// <summary>Pages written as BALLOONED (no data).</summary>
    public long BalloonedPages { get; init; }
    /// <summary>Pages of the final image that a restore needs a host page for (the END record's figure).</summary>
    public long NonZeroPages { get; init; }
}

/// <summary>What a restore did.</summary>
public sealed record RestoreSummary
{
    /// <summary>Bytes read, header to END.</summary>
    public long Bytes { get; init; }
    /// <summary>Passes in the state.</summary>
    public int Passes { get; init; }
    /// <summary>Host pages allocated (without zeroing) before the first record was read: the header's non-zero count.</summary>
    public long PagesAllocatedUpFront { get; init; }
    /// <summary>Host pages allocated later, for pages a live save's later passes turned non-zero.</summary>
    public long PagesAllocatedLater { get; init; }
    /// <summary>Guest pages now backed by a private host page of their own (RAM and ROM).</summary>
    public long PrivatePages { get; init; }
    /// <summary>Guest pages now backed by a shared host page that already existed on this host.</summary>
    public long SharedPages { get; init; }
    /// <summary>Shared contents of the state that the host still had (the rest came back as private pages).</summary>
    public long SharedContentsFound { get; init; }
    /// <summary>Guest pages now on the zero page.</summary>
    public long ZeroPages { get; init; }
    /// <summary>Guest pages now in the balloon.</summary>
    public long BalloonedPages { get; init; }
}

/// <summary>Pages written per class (a saver's running tally).</summary>
internal sealed class RecordCounts
{
    public long Zero, Raw, Rom, SharedContents, SharedReferences, Ballooned;

    public void Add(PageClass cls, bool reference)
    {
        switch (cls)
        {
            case PageClass.Zero: Zero++; break;
            case PageClass.Ballooned: Ballooned++; break;
            case PageClass.Raw: Raw++; break;
            case PageClass.Rom: Rom++; break;
            case PageClass.Shared when reference: SharedReferences++; break;
            case PageClass.Shared: SharedContents++; break;
        }
    }

    public SavedStateSummary Summary(long bytes, int passes, long nonZeroPages) => new()
    {
        Bytes = bytes, Passes = passes, NonZeroPages = nonZeroPages, ZeroPages = Zero, RawPages = Raw, RomPages = Rom,
        SharedContents = SharedContents, SharedReferences = SharedReferences, BalloonedPages = Ballooned,
    };
}
