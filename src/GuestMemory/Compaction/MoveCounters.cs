namespace GuestMemory.Compaction;

/// <summary>What one run has moved and refused so far (the movers add to it, the run reports it).</summary>
internal struct MoveCounters
{
    public long PrivateMoved, SharedMoved, Refused;

    /// <summary>Pages moved, private and shared (the unit of the background worker's page budget).</summary>
    public readonly long Moved => PrivateMoved + SharedMoved;
}
