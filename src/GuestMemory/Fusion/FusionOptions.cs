namespace GuestMemory.Fusion;

/// <summary>How much the background page-fusion scanner may spend. Validated by <see cref="PageFusion.Start"/>.</summary>
public sealed record FusionOptions
{
    /// <summary>Pages examined per second at most (0 = no page budget).</summary>
    public int PagesPerSecond { get; init; }

    /// <summary>The scanner's CPU time as a fraction of wall time at most (1 = no CPU budget).</summary>
    public double CpuFraction { get; init; } = 0.25;

    /// <summary>Pause between passes.</summary>
    public TimeSpan PassInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Run the scanner in Linux's idle scheduling class (the seed's idle-priority thread): it then only
    /// uses CPU time nobody else wants, and on a fully busy host it makes no progress at all. Turn it
    /// off to rely on <see cref="CpuFraction"/> alone.
    /// </summary>
    public bool IdlePriority { get; init; } = true;

    internal void Validate()
    {
        if (PagesPerSecond < 0) throw new GmmException(GmmError.InvalidArgument, $"PagesPerSecond must not be negative ({PagesPerSecond})");
        if (!(CpuFraction > 0 && CpuFraction <= 1)) throw new GmmException(GmmError.InvalidArgument, $"CpuFraction must be in (0, 1] ({CpuFraction})");
        if (PassInterval < TimeSpan.Zero) throw new GmmException(GmmError.InvalidArgument, $"PassInterval must not be negative ({PassInterval})");
    }
}

/// <summary>What one pass of the scanner did.</summary>
public readonly record struct FusionPassResult(
    long Examined, long Armed, long Merged, long SharedPagesCreated, long ZeroPagesReclaimed, long VolatileSkips, long BytesScanned)
{
    /// <summary>
    /// True when the pass changed nothing: it armed, merged and zeroed no page, so the next pass would
    /// find nothing new unless the guests write. (Volatile pages it skipped may still be due later.)
    /// </summary>
    public bool Converged => Armed == 0 && Merged == 0 && ZeroPagesReclaimed == 0;
}

/// <summary>Running totals of the scanner since the manager started.</summary>
public sealed record FusionStatistics
{
    /// <summary>Passes run.</summary>
    public long Passes { get; init; }
    /// <summary>Pages zero-checked and hashed.</summary>
    public long PagesScanned { get; init; }
    /// <summary>Pages armed for write monitoring.</summary>
    public long PagesArmed { get; init; }
    /// <summary>Guest pages that now use a shared page instead of their own.</summary>
    public long PagesMerged { get; init; }
    /// <summary>Shared pages created.</summary>
    public long SharedPagesCreated { get; init; }
    /// <summary>Guest pages found all zero and returned to the zero page.</summary>
    public long ZeroPagesReclaimed { get; init; }
    /// <summary>Visits skipped because the page keeps changing.</summary>
    public long VolatileSkips { get; init; }
    /// <summary>Merges refused because the page changed between hashing and merging.</summary>
    public long LostRaces { get; init; }
    /// <summary>Guest bytes read by hashing and comparing.</summary>
    public long BytesScanned { get; init; }
    /// <summary>CPU time the scanning took.</summary>
    public TimeSpan ScanCpuTime { get; init; }
    /// <summary>Writes to shared pages that made a private copy, over all live VMs.</summary>
    public long CopyOnWriteBreaks { get; init; }
    /// <summary>References to shared pages held by guest pages, over all live VMs.</summary>
    public long SharingReferences { get; init; }
}
