using System.Text.Json.Serialization;

namespace GuestMemory.Benchmarks;

/// <summary>
/// The placement experiment of <c>gmm bench compaction --policy</c> (seed's free policy): each choice of
/// <see cref="Gmm.ChunkPlacement"/> against its opposite in the same scenario. Affinity: the main
/// scenario. Shared chunks: the same with every fourth page identical in all VMs and shared by fusion
/// before the shutdown. Fullest first: the same, then each survivor takes a quarter of its RAM back
/// from the balloon and writes it again before compaction.
/// </summary>
public sealed record PlacementFigures
{
    /// <summary>VM affinity: share of the destroyed VMs' memory that left the process at their shutdown, %.</summary>
    [JsonPropertyName("policy_affinity_shutdown_pct")] public double AffinityShutdownPct { get; init; }
    /// <summary>Every VM allocating from one free set: the same, %.</summary>
    [JsonPropertyName("policy_no_affinity_shutdown_pct")] public double NoAffinityShutdownPct { get; init; }
    /// <summary>VM affinity: share of all freed memory that left the process without compaction, %.</summary>
    [JsonPropertyName("policy_affinity_returned_pct_without")] public double AffinityReturnedPctWithout { get; init; }
    /// <summary>One free set: the same, %.</summary>
    [JsonPropertyName("policy_no_affinity_returned_pct_without")] public double NoAffinityReturnedPctWithout { get; init; }
    /// <summary>VM affinity: pages one compaction run moved to reach the minimum.</summary>
    [JsonPropertyName("policy_affinity_moved_pages")] public long AffinityMovedPages { get; init; }
    /// <summary>One free set: the same.</summary>
    [JsonPropertyName("policy_no_affinity_moved_pages")] public long NoAffinityMovedPages { get; init; }
    /// <summary>
    /// Shared pages in chunks of their own: how far RSS fell when the VMs were destroyed, MiB (not a share:
    /// the chunks emptied then also held private pages fusion had freed, which the Gmm no longer counts).
    /// </summary>
    [JsonPropertyName("policy_shared_chunks_shutdown_mib")] public double SharedChunksShutdownMib { get; init; }
    /// <summary>Shared pages in the chunks of the VM that created them: the same, MiB.</summary>
    [JsonPropertyName("policy_mixed_shared_shutdown_mib")] public double MixedSharedShutdownMib { get; init; }
    /// <summary>Fullest chunk first: chunks in use beyond the minimum after the rewrites.</summary>
    [JsonPropertyName("policy_fullest_first_excess_chunks")] public int FullestFirstExcessChunks { get; init; }
    /// <summary>Emptiest chunk first: the same.</summary>
    [JsonPropertyName("policy_emptiest_first_excess_chunks")] public int EmptiestFirstExcessChunks { get; init; }
    /// <summary>Fullest chunk first: pages one compaction run moved after the rewrites.</summary>
    [JsonPropertyName("policy_fullest_first_moved_pages")] public long FullestFirstMovedPages { get; init; }
    /// <summary>Emptiest chunk first: the same.</summary>
    [JsonPropertyName("policy_emptiest_first_moved_pages")] public long EmptiestFirstMovedPages { get; init; }
}
