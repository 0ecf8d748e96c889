namespace GuestMemory.Simulation;

/// <summary>How a <see cref="SimulatedGuest"/> behaves. Validated when the guest boots.</summary>
public sealed record SimulatedGuestOptions
{
    /// <summary>Pages inflated or deflated per balloon batch. Default 256 (1 MiB, VirtualBox's balloon chunk).</summary>
    public int BalloonBatchPages { get; init; } = 256;

    /// <summary>
    /// Balloon batches per tick at most. The driver runs ahead of the workload, as virtio-balloon's kernel
    /// worker does, so a target is not paced by the workload's writes; the bound keeps a huge target from
    /// starving the workload. Default 16 (16 MiB).
    /// </summary>
    public int BalloonBatchesPerTick { get; init; } = 16;

    /// <summary>Pages the working set grows or shrinks by per tick at most. Default 256.</summary>
    public int WorkloadBatchPages { get; init; } = 256;

    /// <summary>Used pages the workload checks and rewrites per tick (its activity). Default 8.</summary>
    public int TouchPagesPerTick { get; init; } = 8;

    /// <summary>How long the guest's thread rests when it has nothing to do. Default 2 ms.</summary>
    public TimeSpan Tick { get; init; } = TimeSpan.FromMilliseconds(2);

    /// <summary>Seed of the guest's random choices (which pages it frees and touches).</summary>
    public int Seed { get; init; } = 1;

    /// <summary>
    /// The working set over time since boot (for example <see cref="ComeAndGoWorkload.PagesAt"/>); null
    /// when the caller sets <see cref="SimulatedGuest.WorkingSetPages"/> itself.
    /// </summary>
    public Func<TimeSpan, long>? Workload { get; init; }

    internal void Validate()
    {
        if (BalloonBatchPages < 1 || BalloonBatchesPerTick < 1 || WorkloadBatchPages < 1 || TouchPagesPerTick < 0)
            throw new GmmException(GmmError.InvalidArgument, "batch sizes must be positive and touches non-negative");
        if (Tick < TimeSpan.Zero || Tick > TimeSpan.FromSeconds(10))
            throw new GmmException(GmmError.InvalidArgument, $"Tick must be 0..10 s, not {Tick}");
    }
}

/// <summary>What a simulated guest has done since it was created.</summary>
/// <param name="Ticks">Ticks run.</param>
/// <param name="PagesWritten">Pages the workload filled with its content.</param>
/// <param name="PagesChecked">Used pages read back and compared before being rewritten.</param>
/// <param name="ContentErrors">Pages that did not read what the guest last wrote (must stay 0).</param>
/// <param name="AllocationFailures">Writes refused because the host had no page (HitGlobalLimit or HitVmAccountLimit); nothing was written.</param>
/// <param name="BalloonErrors">Balloon batches the host refused (typed error; the guest kept its pages).</param>
/// <param name="PagesInflated">Pages given to the balloon.</param>
/// <param name="PagesDeflated">Pages taken back from the balloon.</param>
public readonly record struct SimulatedGuestCounters(
    long Ticks, long PagesWritten, long PagesChecked, long ContentErrors,
    long AllocationFailures, long BalloonErrors, long PagesInflated, long PagesDeflated);
