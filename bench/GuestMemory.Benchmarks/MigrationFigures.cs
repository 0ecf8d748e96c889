namespace GuestMemory.Benchmarks;

/// <summary>The figures of <c>gmm bench migrate</c>; serialised with snake_case names for <c>--json</c>.</summary>
public sealed record MigrationFigures
{
    /// <summary>From connecting to the target to its RESUMED, seconds.</summary>
    public double TotalS { get; init; }
    /// <summary>From pausing the guest to the target's RESUMED, milliseconds.</summary>
    public double DowntimeMs { get; init; }
    /// <summary>Bytes the source wrote to the connection.</summary>
    public long BytesSent { get; init; }
    /// <summary>The VM's RAM, bytes.</summary>
    public long GuestBytes { get; init; }
    /// <summary>Passes, the final one included.</summary>
    public int Passes { get; init; }
    /// <summary><see cref="BytesSent"/> / <see cref="GuestBytes"/>.</summary>
    public double BytesPerGuestByte { get; init; }
    /// <summary>Pages each pass took (the first every page, then the dirtied ones).</summary>
    public long[] PagesPerPass { get; init; } = [];
    /// <summary>Pages whose 4 KiB crossed the wire, per pass.</summary>
    public long[] DataPagesPerPass { get; init; } = [];
    /// <summary>Pages sent as a reference to a content the target held, over all passes.</summary>
    public long ContentReferences { get; init; }
    /// <summary>Pages sent as a duplicate of a page sent earlier in the move.</summary>
    public long Duplicates { get; init; }
    /// <summary>Why pre-copy stopped.</summary>
    public string StopReason { get; init; } = "";
    /// <summary>The final pass's transfer time the convergence vote expected, milliseconds.</summary>
    public double ExpectedFinalPassMs { get; init; }
    /// <summary>The target's commit of the staged image, milliseconds (part of the downtime).</summary>
    public double TargetCommitMs { get; init; }
    /// <summary>The guest's measured write rate during the move, MiB/s.</summary>
    public double GuestWriteMibPerS { get; init; }
    /// <summary>The sender's allowed downtime, milliseconds.</summary>
    public double MaxDowntimeMs { get; init; }
    /// <summary>Measured moves; the figures above are those of the one with the best total time.</summary>
    public int Runs { get; init; } = 1;
    /// <summary>Every measured move's total time, seconds.</summary>
    public double[] TotalSAll { get; init; } = [];
    /// <summary>Every measured move's downtime, milliseconds.</summary>
    public double[] DowntimeMsAll { get; init; } = [];
}
