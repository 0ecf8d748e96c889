using GuestMemory.Gmm;

namespace GuestMemory.Compaction;

/// <summary>What a compaction run may do. Validated when a run starts.</summary>
public sealed record CompactionOptions
{
    /// <summary>
    /// Chunks at most this full (used pages / 512) may be emptied; the fullest chunks of each free set
    /// receive their pages. Emptying a chunk costs one copy per page in it and gives 2 MiB back, so even a
    /// chunk three quarters full is worth it; the limit keeps a budgeted worker from copying nearly full ones.
    /// </summary>
    public double SparseThreshold { get; init; } = 0.75;

    /// <summary>Chunks emptied per run at most.</summary>
    public int MaxChunksPerRun { get; init; } = int.MaxValue;

    /// <summary>Whether the run ends by giving the Gmm's spare empty chunks back to the host as well.</summary>
    public bool ReleaseSpareChunks { get; init; } = true;

    /// <summary>Background worker: pages moved per second at most (0 = no page budget).</summary>
    public int PagesPerSecond { get; init; }

    /// <summary>Background worker: its CPU time as a fraction of wall time at most.</summary>
    public double CpuFraction { get; init; } = 0.25;

    /// <summary>Background worker: how often it looks at fragmentation.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Background worker: runs only when the chunks in use (spares not counted) exceed the minimum by this many.</summary>
    public int MinimumExcessChunks { get; init; } = 2;

    internal void Validate()
    {
        if (!(SparseThreshold > 0 && SparseThreshold < 1)) throw new GmmException(GmmError.InvalidArgument, $"SparseThreshold must be in (0, 1) ({SparseThreshold})");
        if (MaxChunksPerRun < 1) throw new GmmException(GmmError.InvalidArgument, $"MaxChunksPerRun must be positive ({MaxChunksPerRun})");
        if (PagesPerSecond < 0) throw new GmmException(GmmError.InvalidArgument, $"PagesPerSecond must not be negative ({PagesPerSecond})");
        if (!(CpuFraction > 0 && CpuFraction <= 1)) throw new GmmException(GmmError.InvalidArgument, $"CpuFraction must be in (0, 1] ({CpuFraction})");
        if (Interval < TimeSpan.Zero) throw new GmmException(GmmError.InvalidArgument, $"Interval must not be negative ({Interval})");
        if (MinimumExcessChunks < 0) throw new GmmException(GmmError.InvalidArgument, $"MinimumExcessChunks must not be negative ({MinimumExcessChunks})");
    }
}

/// <summary>What one compaction run did.</summary>
public readonly record struct CompactionResult(
    int ChunksEvacuated, int ChunksReleased, long PrivatePagesMoved, long SharedPagesMoved, long MovesRefused, TimeSpan Elapsed);

/// <summary>
/// How fragmented host memory is: chunks in use against the minimum the live pages need, and the
/// process's real RSS against the memory the allocated pages stand for.
/// </summary>
public sealed record FragmentationFigures
{
    /// <summary>Committed chunks (in use or spare).</summary>
    public int Chunks { get; init; }
    /// <summary>Empty chunks kept committed for quick reuse (<see cref="GmmOptions.SpareEmptyChunks"/>).</summary>
    public int SpareChunks { get; init; }
    /// <summary>Chunks holding at least one page in use.</summary>
    public int ChunksInUse => Chunks - SpareChunks;
    /// <summary>Chunks the allocated pages would fill if packed densely.</summary>
    public int MinimumChunks { get; init; }
    /// <summary>Chunks in use beyond the minimum: what compaction could give back at most.</summary>
    public int ExcessChunks => ChunksInUse - MinimumChunks;
    /// <summary>Host pages in use (private and shared).</summary>
    public long AllocatedPages { get; init; }
    /// <summary>Free pages inside used chunks whose memory is already back with the host.</summary>
    public long DiscardedFreePages { get; init; }
    /// <summary>The process's resident set now.</summary>
    public long RssBytes { get; init; }
    /// <summary>Chunks in use per chunk needed: 1.0 is perfectly packed.</summary>
    public double ChunkRatio => GmmStatistics.Ratio(ChunksInUse, MinimumChunks);
    /// <summary>RSS per byte of allocated pages (includes the runtime's own memory).</summary>
    public double RssPerAllocatedByte => AllocatedPages == 0 ? double.PositiveInfinity : (double)RssBytes / (AllocatedPages * (long)Paging.PageSize);
}

/// <summary>Running totals of the compactor.</summary>
public sealed record CompactionStatistics
{
    /// <summary>Runs made.</summary>
    public long Runs { get; init; }
    /// <summary>Chunks emptied and given back.</summary>
    public long ChunksReleased { get; init; }
    /// <summary>Private pages moved.</summary>
    public long PrivatePagesMoved { get; init; }
    /// <summary>Shared pages moved.</summary>
    public long SharedPagesMoved { get; init; }
    /// <summary>Moves refused because the page changed or got mapped meanwhile.</summary>
    public long MovesRefused { get; init; }
}
