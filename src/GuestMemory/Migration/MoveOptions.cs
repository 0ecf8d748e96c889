namespace GuestMemory.Migration;

/// <summary>How a move converges, and how long it waits for the target.</summary>
public sealed record MoveOptions
{
    /// <summary>
    /// The downtime the move aims for: pre-copy stops once the pages left to send fit in a quarter of it
    /// at the measured bandwidth (the rest is for pausing, arming, the target's commit and the round
    /// trips). Default 20 ms.
    /// </summary>
    public TimeSpan MaxDowntime { get; init; } = TimeSpan.FromMilliseconds(20);

    /// <summary>Passes at most, the final one included (at least 2). A guest that dirties memory faster than it
    /// can be sent stops shrinking the passes; then the move pauses anyway, with a longer downtime.</summary>
    public int MaxPasses { get; init; } = 12;

    /// <summary>How long the source waits for any reply, and for a write to go out, before the connection counts as lost.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);

    internal void Validate()
    {
        if (MaxDowntime <= TimeSpan.Zero) throw new GmmException(GmmError.InvalidArgument, $"MaxDowntime must be positive, not {MaxDowntime}");
        if (MaxPasses is < 2 or > (int)State.SavedStateFormat.MaxPasses)
            throw new GmmException(GmmError.InvalidArgument, $"MaxPasses must be 2..{State.SavedStateFormat.MaxPasses}, not {MaxPasses}");
        if (Timeout <= TimeSpan.Zero || Timeout.TotalMilliseconds > int.MaxValue) throw new GmmException(GmmError.InvalidArgument, $"Timeout {Timeout} is out of range");
    }
}
