namespace GuestMemory.State;

/// <summary>When <see cref="VirtualMachine.SaveStateLive"/> stops iterating and pauses the VM.</summary>
public sealed record LiveSaveOptions
{
    /// <summary>Passes at most, the first and the final one included (at least 2).</summary>
    public int MaxPasses { get; init; } = 8;

    /// <summary>Pause as soon as a pass sends no more than this many pages: the final pass will be about that short.</summary>
    public long StopBelowPages { get; init; } = 1024;

    internal void Validate()
    {
        if (MaxPasses < 2 || MaxPasses > SavedStateFormat.MaxPasses) throw new GmmException(GmmError.InvalidArgument, $"MaxPasses must be 2..{SavedStateFormat.MaxPasses}, not {MaxPasses}");
        if (StopBelowPages < 0) throw new GmmException(GmmError.InvalidArgument, $"StopBelowPages must not be negative ({StopBelowPages})");
    }
}
