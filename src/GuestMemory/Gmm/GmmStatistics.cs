namespace GuestMemory.Gmm;

/// <summary>A snapshot of the whole manager (seed: GMMSTATS global part). Counts are pages unless named otherwise.</summary>
public sealed record GmmStatistics
{
    /// <summary>Host pages the manager may use (the host memory limit).</summary>
    public long MaxPages { get; init; }
    /// <summary>Pages reserved by all VMs, over all accounts.</summary>
    public long ReservedPages { get; init; }
    /// <summary>Host pages in use: private pages plus distinct shared pages.</summary>
    public long AllocatedPages { get; init; }
    /// <summary>Private host pages.</summary>
    public long PrivatePages { get; init; }
    /// <summary>Distinct shared host pages.</summary>
    public long SharedPages { get; init; }
    /// <summary>References to shared pages beyond the first: guest pages that cost no host page.</summary>
    public long DuplicatePages { get; init; }
    /// <summary>Pages the guests have given to their balloons.</summary>
    public long BalloonedPages { get; init; }
    /// <summary>Free pages inside committed chunks.</summary>
    public long FreePages { get; init; }
    /// <summary>Committed chunks, in use or spare.</summary>
    public int Chunks { get; init; }
    /// <summary>Entirely free chunks kept committed for reuse.</summary>
    public int SpareChunks { get; init; }
    /// <summary>Chunks given back to the host since start.</summary>
    public long FreedChunks { get; init; }
    /// <summary>Free pages inside used chunks whose memory is back with the host now.</summary>
    public long DiscardedFreePages { get; init; }
    /// <summary>Pages given back to the host one by one since start (see <see cref="PageManager.DiscardFreePages"/>).</summary>
    public long DiscardedPagesTotal { get; init; }
    /// <summary>Live VMs.</summary>
    public int Vms { get; init; }
    /// <summary>Chunks that the live pages would need if they were packed densely.</summary>
    public int MinimumChunks => (int)((AllocatedPages + Paging.PagesPerChunk - 1) / Paging.PagesPerChunk);
    /// <summary>Chunks holding at least one page in use (committed chunks that are not spare).</summary>
    public int ChunksInUse => Chunks - SpareChunks;
    /// <summary>The fragmentation figure: chunks in use per chunk the live pages need; 1.0 is perfectly packed (see <c>Compactor</c>).</summary>
    public double ChunkRatio => Ratio(ChunksInUse, MinimumChunks);

    /// <summary>Chunks in use per chunk needed (1 when nothing is in use, infinite when chunks hold only unplaceable pages).</summary>
    internal static double Ratio(int inUse, int minimum) => minimum == 0 ? (inUse == 0 ? 1 : double.PositiveInfinity) : (double)inUse / minimum;
}

/// <summary>A snapshot of one VM's accounts (seed: GMMSTATS per-VM part).</summary>
public sealed record GmmVmStatistics
{
    /// <summary>The VM's handle.</summary>
    public VmHandle Handle { get; init; }
    /// <summary>The VM's name.</summary>
    public string Name { get; init; } = "";
    /// <summary>Pages reserved per account.</summary>
    public AccountPages Reserved { get; init; }
    /// <summary>Pages allocated per account; base counts each shared reference.</summary>
    public AccountPages Allocated { get; init; }
    /// <summary>Private pages over all accounts.</summary>
    public long PrivatePages { get; init; }
    /// <summary>References this VM holds to shared pages.</summary>
    public long SharedPages { get; init; }
    /// <summary>Pages in the VM's balloon.</summary>
    public long BalloonedPages { get; init; }
    /// <summary>The host's outstanding inflate request, in pages.</summary>
    public long RequestedBalloonPages { get; init; }
    /// <summary>Pages ballooned towards the outstanding request.</summary>
    public long ActuallyBalloonedPages { get; init; }
    /// <summary>The host's outstanding deflate request, in pages.</summary>
    public long RequestedDeflatePages { get; init; }
    /// <summary>The over-commit policy.</summary>
    public OvercommitPolicy Policy { get; init; }
    /// <summary>The priority.</summary>
    public VmPriority Priority { get; init; }
}
