using System.Diagnostics.Metrics;

namespace GuestMemory.Gmm;

/// <summary>Settings of a Global Memory Manager. Validated when the manager is created.</summary>
public sealed record GmmOptions
{
    /// <summary>
    /// Host memory the manager may use for guest pages, in bytes (rounded down to whole 2 MiB chunks).
    /// This is "the host" as far as over-commit is concerned; it may be far smaller than the machine.
    /// Default: the machine's physical memory.
    /// </summary>
    public long HostMemoryLimit { get; init; } = DefaultHostMemory();

    /// <summary>Entirely free chunks kept committed for quick reuse instead of going back to the OS.</summary>
    public int SpareEmptyChunks { get; init; } = 2;

    /// <summary>
    /// Whether pages freed by reset, ballooning and sharing give their memory back to the host at once,
    /// page by page (splitting the chunk's huge page), or stay resident until compaction empties and
    /// returns whole chunks (the seed's behaviour, which keeps huge pages). Default: at once.
    /// </summary>
    public bool ReturnFreedPagesAtOnce { get; init; } = true;

    /// <summary>How far the sum of all reservations may exceed <see cref="HostMemoryLimit"/> (1.0 = no over-commit).</summary>
    public double OvercommitRatio { get; init; } = 4.0;

    /// <summary>
    /// The manager's name: the attribute <c>gmm.manager.name</c> of every metric, so the figures of several
    /// managers in one process stay apart (docs/metrics.md). Default: <c>gmm-1</c>, <c>gmm-2</c>, ... in the
    /// order the process creates managers.
    /// </summary>
    public string? Name { get; init; }

    /// <summary>
    /// Creates the manager's meter when given (a host with dependency injection passes its
    /// <see cref="IMeterFactory"/>, which then owns the meter); without one the manager creates its own.
    /// </summary>
    public IMeterFactory? MeterFactory { get; init; }

    /// <summary>Where new pages go (internal: the benchmark's switch for measuring each placement choice).</summary>
    internal ChunkPlacement Placement { get; init; } = ChunkPlacement.Default;

    internal int MaxChunks => (int)Math.Min(HostMemoryLimit / Paging.ChunkSize, PageId.MaxChunkId);

    internal void Validate()
    {
        if (HostMemoryLimit < Paging.ChunkSize)
            throw new GmmException(GmmError.InvalidArgument, $"HostMemoryLimit must be at least one 2 MiB chunk, not {HostMemoryLimit} bytes");
        if (SpareEmptyChunks < 0)
            throw new GmmException(GmmError.InvalidArgument, $"SpareEmptyChunks must not be negative ({SpareEmptyChunks})");
        if (!(OvercommitRatio >= 1.0) || double.IsInfinity(OvercommitRatio))
            throw new GmmException(GmmError.InvalidArgument, $"OvercommitRatio must be a finite number >= 1 ({OvercommitRatio})");
        if (Name != null && (string.IsNullOrWhiteSpace(Name) || Name.Any(char.IsControl)))
            throw new GmmException(GmmError.InvalidArgument, "Name must have a visible character and no control characters");
        ArgumentNullException.ThrowIfNull(Placement);
    }

    private static long DefaultHostMemory()
    {
        long total = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        return total > 0 ? total : 1L << 30;
    }
}

/// <summary>Pages a VM reserves in each account (seed: cBasePages, cShadowPages, cFixedPages).</summary>
public readonly record struct AccountPages(long Base, long Shadow, long Fixed)
{
    /// <summary>The sum over the three accounts.</summary>
    public long Total => Base + Shadow + Fixed;

    /// <summary>The figure of one account.</summary>
    public long this[GmmAccount account] => account switch
    {
        GmmAccount.Base => Base,
        GmmAccount.Shadow => Shadow,
        _ => Fixed,
    };
}
