using GuestMemory.Gmm;

namespace GuestMemory.Benchmarks;

/// <summary>
/// <c>gmm bench compaction</c>: the fragmentation scenario (<see cref="CompactionScenario"/>) under the
/// seed's free policy, where freed pages stay resident until compaction empties whole chunks (the main
/// figures), and under the default eager policy, where freed pages go back to the host at once page by
/// page (the <c>eager_</c> figures).
/// </summary>
public static class CompactionBench
{
    /// <summary>Runs both policies; keeps the seed policy's chunk maps when <paramref name="options"/> asks for them.</summary>
    public static CompactionFigures Run(CompactionBenchOptions? options = null, IProgress<BenchProgress>? progress = null)
    {
        options ??= new CompactionBenchOptions();
        if (options.Vms is < 2 or > 16 || options.RamMib is < 8 or > 4096)
            throw new GmmException(GmmError.InvalidArgument, "need 2..16 VMs of 8..4096 MiB each");
        progress?.Report(new BenchProgress("warming up", 0, 2));
        WarmUp(options);
        progress?.Report(new BenchProgress("seed policy: freed pages stay until compaction", 0, 2));
        CompactionOutcome seed = Scenario(options, returnAtOnce: false, options.ChunkMaps).Run();
        progress?.Report(new BenchProgress("eager policy: freed pages go back at once", 1, 2));
        CompactionOutcome eager = Scenario(options, returnAtOnce: true, chunkMaps: false).Run();
        return new CompactionFigures
        {
            ReturnedPctWithout = seed.ReturnedPctWithout,
            ReturnedPctWith = seed.ReturnedPctWith,
            MovedPagesPerSecond = seed.MovedPagesPerSecond,
            MovedPagesPerCpuSecond = seed.MovedPagesPerCpuSecond,
            ChunksBefore = seed.ChunksBefore,
            ChunksAfter = seed.ChunksAfter,
            MinimumChunks = seed.MinimumChunks,
            MovedPages = seed.MovedPages,
            CompactionMs = seed.Compaction?.Elapsed.TotalMilliseconds ?? 0,
            FreedMib = seed.FreedBytes / (double)(1 << 20),
            EagerReturnedPctWithout = eager.ReturnedPctWithout,
            EagerReturnedPctWith = eager.ReturnedPctWith,
            EagerMovedPagesPerSecond = eager.MovedPagesPerSecond,
            EagerMovedPagesPerCpuSecond = eager.MovedPagesPerCpuSecond,
            EagerChunksBefore = eager.ChunksBefore,
            EagerChunksAfter = eager.ChunksAfter,
            Vms = options.Vms,
            RamMib = options.RamMib,
            Placement = options.Placement ? MeasurePlacement(options, seed, progress) : null,
            ChunkMapBefore = seed.ChunkMapBefore,
            ChunkMapAfter = seed.ChunkMapAfter,
        };
    }

    /// <summary>Each placement choice against its opposite, in the same scenario (seed's free policy; <paramref name="affinity"/> is the main run).</summary>
    private static PlacementFigures MeasurePlacement(CompactionBenchOptions options, CompactionOutcome affinity, IProgress<BenchProgress>? progress)
    {
        CompactionOutcome Run(string step, int done, ChunkPlacement placement, int sharedEveryNth = 0, double rewrite = 0)
        {
            progress?.Report(new BenchProgress($"placement: {step}", done, 5));
            return (Scenario(options, returnAtOnce: false, chunkMaps: false) with { Placement = placement, SharedEveryNth = sharedEveryNth, RewriteFraction = rewrite }).Run();
        }
        CompactionOutcome noAffinity = Run("one free set for all VMs", 0, new ChunkPlacement(VmAffinity: false));
        CompactionOutcome sharedChunks = Run("shared pages in chunks of their own", 1, ChunkPlacement.Default, sharedEveryNth: 4);
        CompactionOutcome mixedShared = Run("shared pages in their creator's chunks", 2, new ChunkPlacement(SharedChunks: false), sharedEveryNth: 4);
        CompactionOutcome fullest = Run("fullest chunk first", 3, ChunkPlacement.Default, rewrite: 0.25);
        CompactionOutcome emptiest = Run("emptiest chunk first", 4, new ChunkPlacement(FullestFirst: false), rewrite: 0.25);
        return new PlacementFigures
        {
            AffinityShutdownPct = affinity.ReturnedPctAtShutdown,
            NoAffinityShutdownPct = noAffinity.ReturnedPctAtShutdown,
            AffinityReturnedPctWithout = affinity.ReturnedPctWithout,
            NoAffinityReturnedPctWithout = noAffinity.ReturnedPctWithout,
            AffinityMovedPages = affinity.MovedPages,
            NoAffinityMovedPages = noAffinity.MovedPages,
            SharedChunksShutdownMib = sharedChunks.ReturnedMibAtShutdown,
            MixedSharedShutdownMib = mixedShared.ReturnedMibAtShutdown,
            FullestFirstExcessChunks = fullest.ExcessChunksBefore,
            EmptiestFirstExcessChunks = emptiest.ExcessChunksBefore,
            FullestFirstMovedPages = fullest.MovedPages,
            EmptiestFirstMovedPages = emptiest.MovedPages,
        };
    }

    /// <summary>
    /// The same scenario on 8 MiB VMs under both policies, round after round until a round (and a pause
    /// for the background compiler) compiles no new method: the code that will run is at its final tier
    /// and the managed heap has grown to its working size before RSS is read, so the figures are about
    /// guest memory and a host that has been up for a while. At most <paramref name="maxRounds"/> rounds.
    /// </summary>
    private static void WarmUp(CompactionBenchOptions options, int maxRounds = 10)
    {
        var small = options with { RamMib = 8 };
        long compiled;
        int rounds = 0;
        do
        {
            compiled = System.Runtime.JitInfo.GetCompiledMethodCount();
            Scenario(small, returnAtOnce: false, chunkMaps: false).Run();
            Scenario(small, returnAtOnce: true, chunkMaps: false).Run();
            Thread.Sleep(200); // past the tiering delay, so methods called often enough get their optimised code
        }
        while (System.Runtime.JitInfo.GetCompiledMethodCount() != compiled && ++rounds < maxRounds);
    }

    private static CompactionScenario Scenario(CompactionBenchOptions options, bool returnAtOnce, bool chunkMaps) => new()
    {
        Vms = options.Vms,
        RamMib = options.RamMib,
        Seed = options.Seed,
        ReturnFreedPagesAtOnce = returnAtOnce,
        KeepChunkMaps = chunkMaps,
    };
}
