namespace GuestMemory.Balloon;

/// <summary>One controller step: what it saw and which targets it changed. Counts are pages unless named otherwise.</summary>
public sealed record BalloonDecision
{
    /// <summary>The step's number since the controller was created (1 = first).</summary>
    public long Step { get; init; }
    /// <summary>Resident bytes of the process when the step looked.</summary>
    public long RssBytes { get; init; }
    /// <summary>The host budget, bytes.</summary>
    public long BudgetBytes { get; init; }
    /// <summary>Pages the host could still give (budget less reserve, and the Gmm's room); negative when over.</summary>
    public long HeadroomPages { get; init; }
    /// <summary>Pages the guests may write without asking that have no host page yet.</summary>
    public long ExposurePages { get; init; }
    /// <summary>Exposure to come minus headroom to come: positive made the controller reclaim.</summary>
    public long DeficitPages { get; init; }
    /// <summary>Pages the guests asked for back (and the balloons could give).</summary>
    public long WantedPages { get; init; }
    /// <summary>Pages given back to guests that asked.</summary>
    public long GrantedPages { get; init; }
    /// <summary>Pages added to balloons.</summary>
    public long ReclaimPages { get; init; }
    /// <summary>Pages given back because pressure ended.</summary>
    public long ReleasedPages { get; init; }
    /// <summary>Pages the host needed that no guest could give.</summary>
    public long ShortfallPages { get; init; }
    /// <summary>Every target changed in this step.</summary>
    public IReadOnlyList<BalloonTargetChange> Changes { get; init; } = [];
    /// <summary>Every target changed in this step, for a <see cref="GuestBalloonController"/>'s guests (its <see cref="Changes"/> are empty).</summary>
    public IReadOnlyList<GuestTargetChange> GuestChanges { get; init; } = [];
}

/// <summary>One guest's target change in a step of a <see cref="GuestBalloonController"/>.</summary>
/// <param name="Guest">The guest.</param>
/// <param name="OldTargetPages">The balloon target before the step.</param>
/// <param name="NewTargetPages">The balloon target after it.</param>
/// <param name="Reason">Why it changed.</param>
public readonly record struct GuestTargetChange(IBalloonGuest Guest, long OldTargetPages, long NewTargetPages, BalloonChangeReason Reason)
{
    /// <inheritdoc/>
    public override string ToString() => $"{Guest.Name} {OldTargetPages}->{NewTargetPages} ({Reason})";
}

/// <summary>One VM's target change in a step.</summary>
/// <param name="Vm">The VM.</param>
/// <param name="OldTargetPages">The balloon target before the step.</param>
/// <param name="NewTargetPages">The balloon target after it.</param>
/// <param name="Reason">Why it changed.</param>
public readonly record struct BalloonTargetChange(VirtualMachine Vm, long OldTargetPages, long NewTargetPages, BalloonChangeReason Reason)
{
    /// <inheritdoc/>
    public override string ToString() => $"{Vm.Name} {OldTargetPages}->{NewTargetPages} ({Reason})";
}

/// <summary>The controller's running totals since it was created.</summary>
public readonly record struct BalloonControllerCounters
{
    /// <summary>Steps taken.</summary>
    public long Steps { get; init; }
    /// <summary>Steps that changed at least one target.</summary>
    public long Decisions { get; init; }
    /// <summary>Target raises (a driver was asked to inflate).</summary>
    public long InflateRequests { get; init; }
    /// <summary>Target cuts (a driver was asked to deflate).</summary>
    public long DeflateRequests { get; init; }
    /// <summary>Pages asked for by inflate requests.</summary>
    public long PagesRequested { get; init; }
    /// <summary>Pages given back by deflate requests.</summary>
    public long PagesReturned { get; init; }
    /// <summary>Pages the balloons actually took, as seen between steps.</summary>
    public long PagesReclaimed { get; init; }
    /// <summary>Steps in which the host needed more than every guest could give.</summary>
    public long ShortfallSteps { get; init; }
}
