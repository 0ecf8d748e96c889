namespace GuestMemory.Cli.Demo;

/// <summary>What the user asked the demo for (validated by the command's options), and the budget it derives.</summary>
internal sealed record DemoSettings(int Vms, int RamMib, int ImageMib, double Seconds, int Seed, string ReportPath, bool Live)
{
    /// <summary>Share of the promised memory that guest pages may take on the host.</summary>
    public const double HostShare = 0.55;

    /// <summary>When, as a share of the run, one VM shuts down.</summary>
    public const double ShutdownAt = 0.6;

    /// <summary>
    /// The part of the budget kept for the process's own growth while it runs (the Gmm's tables, guest
    /// threads, the live view): not for guest pages, but counted in the real RSS the budget limits.
    /// </summary>
    public const long RuntimeSlackBytes = 32L << 20;

    public long RamBytes => (long)RamMib << 20;
    public long ImageBytes => (long)ImageMib << 20;
    public long PromisedBytes => Vms * (RamBytes + ImageBytes);

    /// <summary>The Gmm's hard limit for guest pages: a whole number of 2 MiB chunks.</summary>
    public long GuestPagesLimitBytes => Math.Max(Paging.ChunkSize * 8L, (long)(PromisedBytes * HostShare) / Paging.ChunkSize * Paging.ChunkSize);

    /// <summary>
    /// The host budget, the one figure the demo shows: real RSS above what the process used before the
    /// VMs started, which the balloon controller keeps the process under. It is the guest pages' limit
    /// plus <see cref="RuntimeSlackBytes"/>.
    /// </summary>
    public long BudgetBytes => GuestPagesLimitBytes + RuntimeSlackBytes;
}
