namespace GuestMemory.Migration.Target;

/// <summary>
/// Where a target's session stands between two frames. Every frame the source sends is checked against
/// it by <see cref="SessionPhases.Next"/> before the frame is acted on: a frame the protocol does not allow
/// in this phase is a corrupt stream, whatever its bytes (a RESUME without a committed image once
/// resumed a VM whose pages were still staged).
/// </summary>
internal enum SessionPhase
{
    /// <summary>No image is being received: a move before its first frame, a mirror between checkpoints.</summary>
    Open,
    /// <summary>An image is being received: passes while the source's guest runs (a mirror's passes too).</summary>
    PreCopy,
    /// <summary>A move's source said STOP: the final pass is coming, without queries.</summary>
    FinalPass,
    /// <summary>The image's final pass ended: only COMMIT may follow.</summary>
    Complete,
    /// <summary>A move's image is committed: only RESUME may follow.</summary>
    Committed,
    /// <summary>The session is over (RESUME or BYE arrived).</summary>
    Ended,
}

/// <summary>The transitions of <see cref="SessionPhase"/>, one table for moves and mirrors (docs/migration-protocol.md, "The target's phases").</summary>
internal static class SessionPhases
{
    /// <summary>
    /// The phase after a frame of <paramref name="type"/> (<paramref name="finalPass"/>: a PASS_END that ends
    /// the image's final pass); throws <see cref="GmmError.MigrationStreamCorrupt"/> when the frame is not
    /// allowed now, naming what was.
    /// </summary>
    public static SessionPhase Next(SessionPhase phase, MessageType type, MigrationMode mode, bool finalPass = false)
    {
        bool move = mode == MigrationMode.Move;
        SessionPhase? next = (phase, type) switch
        {
            (SessionPhase.Open or SessionPhase.PreCopy, MessageType.HashQuery or MessageType.Pages) => SessionPhase.PreCopy,
            (SessionPhase.FinalPass, MessageType.Pages) => SessionPhase.FinalPass,
            (SessionPhase.PreCopy, MessageType.PassEnd) when !finalPass => SessionPhase.PreCopy,
            (SessionPhase.PreCopy, MessageType.PassEnd) when !move => SessionPhase.Complete,
            (SessionPhase.FinalPass, MessageType.PassEnd) when finalPass => SessionPhase.Complete,
            (SessionPhase.PreCopy, MessageType.Stop) when move => SessionPhase.FinalPass,
            (SessionPhase.Complete, MessageType.Commit) => move ? SessionPhase.Committed : SessionPhase.Open,
            (SessionPhase.Committed, MessageType.Resume) => SessionPhase.Ended,
            (SessionPhase.Open, MessageType.Bye) when !move => SessionPhase.Ended,
            _ => null,
        };
        return next ?? throw MigrationErrors.Corrupt($"a {Describe(type, finalPass)} frame came while the {mode.ToString().ToLowerInvariant()} {Describe(phase)}; {Expected(phase, mode)} was due");
    }

    private static string Describe(MessageType type, bool finalPass) => type == MessageType.PassEnd && finalPass ? "final PassEnd" : type.ToString();

    private static string Describe(SessionPhase phase) => phase switch
    {
        SessionPhase.Open => "had no image open",
        SessionPhase.PreCopy => "was receiving an image",
        SessionPhase.FinalPass => "was receiving its final pass",
        SessionPhase.Complete => "had received a whole image",
        SessionPhase.Committed => "had committed its image",
        _ => "had ended",
    };

    private static string Expected(SessionPhase phase, MigrationMode mode) => (phase, mode) switch
    {
        (SessionPhase.Open, MigrationMode.Move) => "a query or pages",
        (SessionPhase.Open, _) => "a query, pages or BYE",
        (SessionPhase.PreCopy, MigrationMode.Move) => "a query, pages, PASS_END or STOP",
        (SessionPhase.PreCopy, _) => "a query, pages or PASS_END",
        (SessionPhase.FinalPass, _) => "pages or the final PASS_END",
        (SessionPhase.Complete, _) => "COMMIT",
        (SessionPhase.Committed, _) => "RESUME",
        _ => "nothing",
    };
}
