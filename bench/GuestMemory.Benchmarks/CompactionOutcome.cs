using GuestMemory.Compaction;

namespace GuestMemory.Benchmarks;

/// <summary>What one <see cref="CompactionScenario"/> run measured.</summary>
internal sealed record CompactionOutcome
{
    /// <summary>Host pages the Gmm stopped using between all VMs full and after the frees, 4 KiB each.</summary>
    public long FreedBytes { get; init; }
    /// <summary>The part of <see cref="FreedBytes"/> freed by destroying VMs.</summary>
    public long DestroyedBytes { get; init; }
    /// <summary>RSS with every VM's RAM written.</summary>
    public long RssFull { get; init; }
    /// <summary>RSS after the VMs were destroyed (before ballooning).</summary>
    public long RssAfterShutdown { get; init; }
    /// <summary>RSS after the frees, before compaction.</summary>
    public long RssWithout { get; init; }
    /// <summary>RSS after one compaction run (same as <see cref="RssWithout"/> when not compacted).</summary>
    public long RssWith { get; init; }
    /// <summary>Committed chunks before compaction.</summary>
    public int ChunksBefore { get; init; }
    /// <summary>Chunks in use beyond the minimum before compaction.</summary>
    public int ExcessChunksBefore { get; init; }
    /// <summary>Committed chunks after compaction.</summary>
    public int ChunksAfter { get; init; }
    /// <summary>Chunks the pages in use need when packed.</summary>
    public int MinimumChunks { get; init; }
    /// <summary>What the compaction run did, or null when it did not run.</summary>
    public CompactionResult? Compaction { get; init; }
    /// <summary>CPU time of the thread that ran the compaction (user and system).</summary>
    public TimeSpan CompactionCpu { get; init; }
    /// <summary>The chunks before compaction, when the scenario keeps its maps.</summary>
    public CompactionChunkMap? ChunkMapBefore { get; init; }
    /// <summary>The chunks after compaction, when the scenario keeps its maps and compacted.</summary>
    public CompactionChunkMap? ChunkMapAfter { get; init; }

    /// <summary>Share of the freed memory that left the process without compaction, %.</summary>
    public double ReturnedPctWithout => Pct(RssFull - RssWithout, FreedBytes);
    /// <summary>Share of the freed memory that left the process after one compaction run, %.</summary>
    public double ReturnedPctWith => Pct(RssFull - RssWith, FreedBytes);
    /// <summary>Share of the destroyed VMs' memory that left the process when they were destroyed, %.</summary>
    public double ReturnedPctAtShutdown => Pct(RssFull - RssAfterShutdown, DestroyedBytes);
    /// <summary>
    /// How far RSS fell when the VMs were destroyed, MiB. With sharing this can exceed the pages the Gmm
    /// freed: under the seed's policy the private pages fusion freed earlier stay resident until their
    /// chunk empties, which the shutdown may do.
    /// </summary>
    public double ReturnedMibAtShutdown => (RssFull - RssAfterShutdown) / (double)(1 << 20);
    /// <summary>Pages the compaction run moved.</summary>
    public long MovedPages => Compaction is { } c ? c.PrivatePagesMoved + c.SharedPagesMoved : 0;
    /// <summary>Pages moved per second of the compaction run.</summary>
    public double MovedPagesPerSecond => Compaction is { } c && c.Elapsed > TimeSpan.Zero ? MovedPages / c.Elapsed.TotalSeconds : 0;
    /// <summary>Pages moved per second of the compacting thread's CPU time (less sensitive to a busy machine than wall time).</summary>
    public double MovedPagesPerCpuSecond => CompactionCpu > TimeSpan.Zero ? MovedPages / CompactionCpu.TotalSeconds : 0;

    private static double Pct(long part, long whole) => whole == 0 ? 0 : 100.0 * part / whole;
}
