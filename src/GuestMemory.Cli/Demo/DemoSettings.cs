namespace GuestMemory.Cli.Demo;

/// <summary>What the user asked the demo for (validated by the command's options).</summary>
internal sealed record DemoSettings(int Vms, int RamMib, int ImageMib, double Seconds, int Seed, string ReportPath, bool Live)
{
    /// <summary>Share of the promised memory the host may actually use.</summary>
    public const double HostShare = 0.55;

    /// <summary>When, as a share of the run, one VM shuts down.</summary>
    public const double ShutdownAt = 0.6;

    public long RamBytes => (long)RamMib << 20;
    public long ImageBytes => (long)ImageMib << 20;
    public long PromisedBytes => Vms * (RamBytes + ImageBytes);
    /// <summary>The host budget for guest memory, a whole number of 2 MiB chunks (also the Gmm's hard limit).</summary>
    public long HostBudgetBytes => Math.Max(Paging.ChunkSize * 8L, (long)(PromisedBytes * HostShare) / Paging.ChunkSize * Paging.ChunkSize);

    /// <summary>Room for the process's own growth while it runs (tables, the live view): part of the RSS budget.</summary>
    public const long RuntimeSlackBytes = 32L << 20;

    /// <summary>What the balloon controller keeps real RSS under, above the process's baseline.</summary>
    public long RssBudgetAboveBaseline => HostBudgetBytes + RuntimeSlackBytes;
}
