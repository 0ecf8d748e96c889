namespace GuestMemory.State;

/// <summary>The typed errors of a bad saved state, in one place so every check words them alike.</summary>
internal static class StateErrors
{
    public static GmmException Truncated(string what, Exception? inner = null) =>
        inner == null
            ? new GmmException(GmmError.StateTruncated, $"the saved state ends inside {what}")
            : new GmmException(GmmError.StateTruncated, $"the saved state ends inside {what}", inner);

    public static GmmException Corrupt(string what) => new(GmmError.StateCorrupt, $"the saved state is corrupt: {what}");

    public static GmmException TooLarge(string what) => new(GmmError.StateTooLarge, $"the saved state is oversized: {what}");

    public static GmmException Version(uint version) =>
        new(GmmError.StateVersionUnsupported, $"the saved state has format version {version}; this library reads version {SavedStateFormat.Version}");

    public static GmmException LayoutMismatch(StateLayout state, StateLayout vm) =>
        new(GmmError.StateLayoutMismatch, $"the saved state's layout ({state}) is not the VM's ({vm})");
}
