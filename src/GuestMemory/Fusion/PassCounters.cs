namespace GuestMemory.Fusion;

/// <summary>Counters of one segment, one pass, or (summed) all passes of the scanner.</summary>
internal struct PassCounters
{
    public long Examined, Armed, Merged, Created, Zeroed, VolatileSkips, LostRaces, Bytes;

    public readonly PassCounters Plus(PassCounters o) => new()
    {
        Examined = Examined + o.Examined, Armed = Armed + o.Armed, Merged = Merged + o.Merged, Created = Created + o.Created,
        Zeroed = Zeroed + o.Zeroed, VolatileSkips = VolatileSkips + o.VolatileSkips, LostRaces = LostRaces + o.LostRaces, Bytes = Bytes + o.Bytes,
    };

    public readonly FusionPassResult ToResult() => new(Examined, Armed, Merged, Created, Zeroed, VolatileSkips, Bytes);
}
