using System.Text.Json.Serialization;

namespace GuestMemory.Benchmarks;

/// <summary>How <see cref="BalloonBench"/> runs.</summary>
public sealed record BalloonBenchOptions
{
    /// <summary>VMs (each gets a simulated guest on its own thread).</summary>
    public int Vms { get; init; } = 4;

    /// <summary>Guest RAM per VM, MiB; the host budget is half of all of it (2x over-commit).</summary>
    public int RamMib { get; init; } = 128;

    /// <summary>Pressure steps measured (one VM's workload grows, then shrinks back).</summary>
    public int Steps { get; init; } = 20;

    /// <summary>The controller's period.</summary>
    public TimeSpan Period { get; init; } = TimeSpan.FromMilliseconds(50);
}

/// <summary>The figures of <c>gmm bench balloon</c>; the first four are the ones with targets.</summary>
public sealed record BalloonFigures
{
    /// <summary>Highest real RSS above the host budget during the steps, % of the budget (0 when never above).</summary>
    [JsonPropertyName("peak_rss_over_budget_pct")] public double PeakRssOverBudgetPct { get; init; }

    /// <summary>Host memory the balloons gave back per second, from each step's start to the donors' balloons settled.</summary>
    [JsonPropertyName("reclaim_mib_per_s")] public double ReclaimMibPerS { get; init; }

    /// <summary>Median time from a balloon target change to the balloon at its target, ms.</summary>
    [JsonPropertyName("settle_ms_p50")] public double SettleMsP50 { get; init; }

    /// <summary>99th percentile of the same, ms.</summary>
    [JsonPropertyName("settle_ms_p99")] public double SettleMsP99 { get; init; }

    /// <summary>How many settle times the percentiles are taken over.</summary>
    [JsonPropertyName("settle_samples")] public int SettleSamples { get; init; }

    /// <summary>Host memory reclaimed over all steps, MiB.</summary>
    [JsonPropertyName("reclaimed_mib")] public double ReclaimedMib { get; init; }

    /// <summary>Pressure steps measured.</summary>
    [JsonPropertyName("steps")] public int Steps { get; init; }

    /// <summary>Steps that did not settle within the time allowed (counted, not hidden).</summary>
    [JsonPropertyName("steps_timed_out")] public int StepsTimedOut { get; init; }

    /// <summary>VMs.</summary>
    [JsonPropertyName("vms")] public int Vms { get; init; }

    /// <summary>Guest RAM per VM, MiB.</summary>
    [JsonPropertyName("ram_mib")] public int RamMib { get; init; }

    /// <summary>The host budget (process RSS), MiB.</summary>
    [JsonPropertyName("budget_mib")] public double BudgetMib { get; init; }

    /// <summary>Highest real RSS during the steps, MiB.</summary>
    [JsonPropertyName("peak_rss_mib")] public double PeakRssMib { get; init; }

    /// <summary>Controller steps that changed targets, over the measured steps.</summary>
    [JsonPropertyName("controller_decisions")] public long ControllerDecisions { get; init; }

    /// <summary>Guest writes refused for want of host memory (typed errors the guests handled).</summary>
    [JsonPropertyName("refused_writes")] public long RefusedWrites { get; init; }
}
