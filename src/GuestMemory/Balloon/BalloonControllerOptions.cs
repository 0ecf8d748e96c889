using GuestMemory.Host;

namespace GuestMemory.Balloon;

/// <summary>Settings of a <see cref="BalloonController"/>. Validated when the controller is created.</summary>
public sealed record BalloonControllerOptions
{
    /// <summary>
    /// The real resident memory the whole process may use, in bytes (guest RAM plus the runtime's own).
    /// The controller keeps <see cref="HostRss"/> below it, <see cref="ReserveBytes"/> to spare.
    /// </summary>
    public required long HostBudgetBytes { get; init; }

    /// <summary>How often the controller looks at the host when nothing wakes it earlier. Default 50 ms.</summary>
    public TimeSpan Period { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// Memory kept free below the budget, in bytes, for what the controller cannot steer: the runtime's
    /// own allocations, and a new 2 MiB chunk that a guest's next write may commit (the controller adds
    /// one chunk per VM on top of this). Default 8 MiB.
    /// </summary>
    public long ReserveBytes { get; init; } = 8L << 20;

    /// <summary>
    /// Hysteresis: once pressure ends, balloons deflate only while at least this much more than the
    /// reserve is free, so a controller that just reclaimed does not hand the memory straight back.
    /// Default 8 MiB.
    /// </summary>
    public long HysteresisBytes { get; init; } = 8L << 20;

    /// <summary>
    /// The idle memory tax rate, 0 ≤ rate &lt; 1 (ESX's idea and default, 0.75): an idle page costs a VM
    /// 1 / (1 - rate) times what a used page costs, so VMs that sit on free memory give first.
    /// </summary>
    public double IdleTaxRate { get; init; } = 0.75;

    /// <summary>Pages the Gmm must still be able to hand out before its global limit. Default 512 (2 MiB).</summary>
    public long GmmLowWaterPages { get; init; } = Paging.PagesPerChunk;

    /// <summary>
    /// Reads the process's resident bytes. Default: <see cref="HostRss.ReadCounterBytes"/>, real RSS from
    /// the kernel's counters (smaps_rollup gives the same figure but walks every page table, milliseconds
    /// per read, too slow to look every period). A host that is limited by something else (a cgroup's
    /// memory.current) plugs its own reading in here.
    /// </summary>
    public Func<long> ReadRssBytes { get; init; } = HostRss.ReadCounterBytes;

    internal void Validate()
    {
        if (HostBudgetBytes < Paging.ChunkSize)
            throw new GmmException(GmmError.InvalidArgument, $"HostBudgetBytes must be at least 2 MiB, not {HostBudgetBytes}");
        if (Period < TimeSpan.FromMilliseconds(1) || Period > TimeSpan.FromMinutes(1))
            throw new GmmException(GmmError.InvalidArgument, $"Period must be 1 ms..1 min, not {Period}");
        if (ReserveBytes < 0 || HysteresisBytes < 0 || ReserveBytes + HysteresisBytes >= HostBudgetBytes)
            throw new GmmException(GmmError.InvalidArgument, $"ReserveBytes ({ReserveBytes}) and HysteresisBytes ({HysteresisBytes}) must be non-negative and leave room in the budget");
        if (!(IdleTaxRate >= 0 && IdleTaxRate < 1))
            throw new GmmException(GmmError.InvalidArgument, $"IdleTaxRate must be in [0, 1), not {IdleTaxRate}");
        if (GmmLowWaterPages < 0)
            throw new GmmException(GmmError.InvalidArgument, $"GmmLowWaterPages must not be negative ({GmmLowWaterPages})");
        if (ReadRssBytes is null) throw new GmmException(GmmError.InvalidArgument, "ReadRssBytes must not be null");
    }
}
