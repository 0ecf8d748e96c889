namespace GuestMemory.Migration;

/// <summary>What one pass sent.</summary>
public sealed record PassReport
{
    /// <summary>The pass's number in its image, from 1.</summary>
    public int Number { get; init; }
    /// <summary>True for the final pass (taken with the guest paused).</summary>
    public bool Final { get; init; }
    /// <summary>Pages the pass took: every page in the first pass, then the pages dirtied since the pass before.</summary>
    public long PagesTaken { get; init; }
    /// <summary>Pages whose bytes crossed the wire (RAW and ROM records).</summary>
    public long PagesWithData => Records.WithData;
    /// <summary>Pages sent as a reference to a content the target holds.</summary>
    public long ContentReferences => Records.References;
    /// <summary>Pages sent as a duplicate of a page sent earlier in the same image.</summary>
    public long Duplicates => Records.Duplicates;
    /// <summary>Zero pages (a few bytes per run).</summary>
    public long ZeroPages => Records.Zero;
    /// <summary>Ballooned pages (a few bytes per run).</summary>
    public long BalloonedPages => Records.Ballooned;
    /// <summary>Bytes the source wrote during the pass (frames, queries included).</summary>
    public long Bytes { get; init; }
    /// <summary>From arming the pass's pages to its last frame.</summary>
    public TimeSpan Duration { get; init; }

    internal PassRecords Records { get; init; }
}

/// <summary>What a move did: timing, bytes and passes.</summary>
public sealed record MoveReport
{
    /// <summary>From the connection to the target's RESUMED (and the source VM destroyed).</summary>
    public TimeSpan Total { get; init; }
    /// <summary>From the call to pause the guest to the target's RESUMED: the time the guest ran nowhere.</summary>
    public TimeSpan Downtime { get; init; }
    /// <summary>The target's commit of the staged image, as it measured it (part of the downtime).</summary>
    public TimeSpan TargetCommit { get; init; }
    /// <summary>Bytes the source wrote to the connection.</summary>
    public long BytesSent { get; init; }
    /// <summary>Bytes the source read from the connection (answers, acknowledgements).</summary>
    public long BytesReceived { get; init; }
    /// <summary>The VM's RAM and ROM, bytes.</summary>
    public long GuestBytes { get; init; }
    /// <summary>Every pass, the final one last.</summary>
    public IReadOnlyList<PassReport> Passes { get; init; } = [];
    /// <summary>Why pre-copy stopped.</summary>
    public string StopReason { get; init; } = "";
    /// <summary>The final pass's transfer time the convergence vote expected when it stopped.</summary>
    public TimeSpan ExpectedFinalPass { get; init; }
    /// <summary>Whether the target took content references (it shares pages in the VM's sharing domain).</summary>
    public bool ContentReferences { get; init; }
}

/// <summary>Where a session is, for progress displays.</summary>
public enum MigrationPhase
{
    /// <summary>HELLO sent, waiting for the target's answer.</summary>
    Handshake,
    /// <summary>Passes while the guest runs.</summary>
    PreCopy,
    /// <summary>The guest is paused; the final pass is being sent.</summary>
    StopAndCopy,
    /// <summary>The image is complete; the target checks and commits it.</summary>
    Commit,
    /// <summary>The source told the target to resume the VM and waits for its confirmation.</summary>
    Resume,
    /// <summary>Done.</summary>
    Completed,
}

/// <summary>A progress report: after every pass and at each phase change, on the session's thread.</summary>
/// <param name="Phase">Where the session is.</param>
/// <param name="Pass">The last pass sent (0 before the first).</param>
/// <param name="BytesSent">Bytes the source wrote so far.</param>
/// <param name="PagesLastPass">Pages the last pass took (the first pass takes every page; later ones what the guest dirtied).</param>
/// <param name="Elapsed">Since the session began.</param>
public readonly record struct MigrationProgress(MigrationPhase Phase, int Pass, long BytesSent, long PagesLastPass, TimeSpan Elapsed);
