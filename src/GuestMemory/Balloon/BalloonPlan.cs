namespace GuestMemory.Balloon;

/// <summary>Why the controller changed a VM's balloon target (several reasons may combine in one step).</summary>
[Flags]
public enum BalloonChangeReason
{
    /// <summary>No change.</summary>
    None = 0,
    /// <summary>The target was outside the VM's minimum/maximum RAM and was brought back inside.</summary>
    Limits = 1,
    /// <summary>The guest uses more than the target left it: the unreachable part was withdrawn.</summary>
    Withdrawn = 2,
    /// <summary>The guest asked for pages back and the host could back them: deflate.</summary>
    Granted = 4,
    /// <summary>The host was short (or another guest asked for memory): inflate, idle memory first.</summary>
    Reclaimed = 8,
    /// <summary>Pressure ended: memory goes back to the guests that deserve it most.</summary>
    Released = 16,
}

/// <summary>One VM as the planner sees it in one step. Counts are pages.</summary>
internal struct BalloonVmFigures
{
    /// <summary>False for a VM without a balloon driver: a fixed allocation that may touch all its RAM.</summary>
    public bool HasDriver;
    public long RamPages;
    public long Target;
    /// <summary>Pages in the balloon now (guest-physical memory's count).</summary>
    public long Ballooned;
    /// <summary>RAM pages that have a host page now (allocated, monitored or shared).</summary>
    public long Backed;
    /// <summary>Pages the guest uses (its driver's report): it cannot give them.</summary>
    public long Used;
    /// <summary>Pages its workload uses or is growing into (its driver's report, at least <see cref="Used"/>): not taken.</summary>
    public long Needed;
    public long MinTarget;
    public long MaxTarget;
    /// <summary>Weight × priority factor × RAM pages (ESX: shares scale with configured memory).</summary>
    public double Shares;
}

/// <summary>What the planner decided in one step, with the figures it decided on (pages).</summary>
internal sealed class BalloonPlan(int vms)
{
    public long[] Targets { get; } = new long[vms];
    public BalloonChangeReason[] Reasons { get; } = new BalloonChangeReason[vms];
    /// <summary>Pages the host can still give before its budget (negative: over it).</summary>
    public long HeadroomPages { get; set; }
    /// <summary>Pages guests may write without asking that have no host page yet.</summary>
    public long ExposurePages { get; set; }
    /// <summary>Future exposure minus future headroom: positive means reclaim, below -hysteresis means release.</summary>
    public long DeficitPages { get; set; }
    public long WantedPages { get; set; }
    public long GrantedPages { get; set; }
    public long ReclaimPages { get; set; }
    public long ReleasedPages { get; set; }
    /// <summary>Pages the host needs that no guest can give (every guest uses its memory).</summary>
    public long ShortfallPages { get; set; }
}
