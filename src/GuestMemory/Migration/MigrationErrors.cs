namespace GuestMemory.Migration;

/// <summary>The typed errors of a migration session, in one place so every check words them alike.</summary>
internal static class MigrationErrors
{
    public static GmmException Lost(string what, Exception? inner = null) =>
        inner == null
            ? new GmmException(GmmError.MigrationConnectionLost, $"the connection was lost {what}")
            : new GmmException(GmmError.MigrationConnectionLost, $"the connection was lost {what}: {inner.Message}", inner);

    public static GmmException Corrupt(string what) => new(GmmError.MigrationStreamCorrupt, $"the migration stream is corrupt: {what}");

    public static GmmException Corrupt(string what, GmmException inner) => new(GmmError.MigrationStreamCorrupt, $"the migration stream is corrupt: {what}: {inner.Message}", inner);

    public static GmmException Version(uint version) =>
        new(GmmError.MigrationVersionUnsupported, $"the peer speaks migration protocol version {version}; this library speaks version {MigrationProtocol.Version}");

    /// <summary>The peer's own error, as it reported it in REFUSE or ABORT.</summary>
    public static GmmException Remote(GmmError error, string message) => new(error, $"(on the peer) {message}");

    /// <summary>
    /// True for the errors that mean the bytes of the stream cannot be trusted: the saved-state checks a
    /// record fails when it does not fit the layout, and the frame checks.
    /// </summary>
    public static bool IsStreamError(GmmError error) =>
        error is GmmError.StateCorrupt or GmmError.StateTooLarge or GmmError.StateTruncated or GmmError.StateLayoutMismatch or GmmError.MigrationStreamCorrupt;
}
