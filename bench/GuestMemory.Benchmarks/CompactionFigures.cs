using System.Text.Json.Serialization;

namespace GuestMemory.Benchmarks;

/// <summary>How <see cref="CompactionBench"/> runs.</summary>
public sealed record CompactionBenchOptions
{
    /// <summary>VMs started together; every second one is destroyed.</summary>
    public int Vms { get; init; } = 4;

    /// <summary>Guest RAM per VM, MiB.</summary>
    public int RamMib { get; init; } = 256;

    /// <summary>Seed of the random choice of ballooned pages.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Keep the chunk maps before and after compaction (seed policy) in the figures, for pictures.</summary>
    public bool ChunkMaps { get; init; }

    /// <summary>Also run the placement experiment (<see cref="PlacementFigures"/>).</summary>
    public bool Placement { get; init; }
}

/// <summary>
/// The figures of <c>gmm bench compaction</c>. Unprefixed: the seed's free policy (freed pages stay
/// resident until compaction empties their chunk); <c>eager_</c>: the default policy (freed pages go
/// back to the host at once, page by page). Freed memory and the returned share: see <see cref="CompactionScenario"/>.
/// </summary>
public sealed record CompactionFigures
{
    /// <summary>Share of the freed memory that left the process (RSS) without compaction, %.</summary>
    [JsonPropertyName("returned_pct_without")] public double ReturnedPctWithout { get; init; }
    /// <summary>The same after one compaction run, %. Target: at least 99.</summary>
    [JsonPropertyName("returned_pct_with")] public double ReturnedPctWith { get; init; }
    /// <summary>Pages the compaction run moved per second of its wall time.</summary>
    [JsonPropertyName("moved_pages_per_s")] public double MovedPagesPerSecond { get; init; }
    /// <summary>Pages the compaction run moved per second of the compacting thread's CPU time (user and system).</summary>
    [JsonPropertyName("moved_pages_per_cpu_s")] public double MovedPagesPerCpuSecond { get; init; }
    /// <summary>Committed chunks before compaction.</summary>
    [JsonPropertyName("chunks_before")] public int ChunksBefore { get; init; }
    /// <summary>Committed chunks after compaction.</summary>
    [JsonPropertyName("chunks_after")] public int ChunksAfter { get; init; }
    /// <summary>Chunks the pages in use need when packed.</summary>
    [JsonPropertyName("minimum_chunks")] public int MinimumChunks { get; init; }
    /// <summary>Pages the compaction run moved.</summary>
    [JsonPropertyName("moved_pages")] public long MovedPages { get; init; }
    /// <summary>Wall time of the compaction run, ms.</summary>
    [JsonPropertyName("compaction_ms")] public double CompactionMs { get; init; }
    /// <summary>Memory the guests gave up (destroyed VMs' pages and ballooned pages), MiB.</summary>
    [JsonPropertyName("freed_mib")] public double FreedMib { get; init; }
    /// <summary>Eager policy: share of the freed memory that left the process without compaction, %.</summary>
    [JsonPropertyName("eager_returned_pct_without")] public double EagerReturnedPctWithout { get; init; }
    /// <summary>Eager policy: the same after one compaction run, %.</summary>
    [JsonPropertyName("eager_returned_pct_with")] public double EagerReturnedPctWith { get; init; }
    /// <summary>Eager policy: pages moved per second.</summary>
    [JsonPropertyName("eager_moved_pages_per_s")] public double EagerMovedPagesPerSecond { get; init; }
    /// <summary>Eager policy: pages moved per second of CPU time.</summary>
    [JsonPropertyName("eager_moved_pages_per_cpu_s")] public double EagerMovedPagesPerCpuSecond { get; init; }
    /// <summary>Eager policy: committed chunks before compaction.</summary>
    [JsonPropertyName("eager_chunks_before")] public int EagerChunksBefore { get; init; }
    /// <summary>Eager policy: committed chunks after compaction.</summary>
    [JsonPropertyName("eager_chunks_after")] public int EagerChunksAfter { get; init; }
    /// <summary>VMs started.</summary>
    [JsonPropertyName("vms")] public int Vms { get; init; }
    /// <summary>Guest RAM per VM, MiB.</summary>
    [JsonPropertyName("ram_mib")] public int RamMib { get; init; }
    /// <summary>The placement experiment, when asked for.</summary>
    [JsonIgnore] public PlacementFigures? Placement { get; init; }
    /// <summary>The seed policy's chunks before compaction, when asked for (<see cref="CompactionBenchOptions.ChunkMaps"/>).</summary>
    [JsonIgnore] public CompactionChunkMap? ChunkMapBefore { get; init; }
    /// <summary>The seed policy's chunks after compaction, when asked for.</summary>
    [JsonIgnore] public CompactionChunkMap? ChunkMapAfter { get; init; }
}

/// <summary>The Gmm's chunks at one moment of the compaction scenario, with the surviving VMs' names: what a chunk map pictures.</summary>
/// <param name="Title">What the moment is, with the chunk counts.</param>
/// <param name="Chunks">Every committed chunk's pages (<see cref="Gmm.PageManager.GetChunkMap"/>).</param>
/// <param name="VmNames">The names of the VMs that own pages.</param>
public sealed record CompactionChunkMap(string Title, IReadOnlyList<Gmm.ChunkPicture> Chunks, IReadOnlyDictionary<Gmm.VmHandle, string> VmNames);
