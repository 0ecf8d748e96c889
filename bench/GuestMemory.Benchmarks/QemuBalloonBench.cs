using GuestMemory.Qemu;

namespace GuestMemory.Benchmarks;

/// <summary>What <see cref="QemuBalloonBench.RunAsync"/> runs (the figures: 4 guests of 384 MiB, a budget of 768 MiB).</summary>
/// <param name="Guests">Guests.</param>
/// <param name="RamMib">RAM per guest.</param>
/// <param name="BudgetMib">The budget for the guests' resident RAM (their memfds' resident pages).</param>
/// <param name="GrowMib">How far each grower grows into tmpfs in its turn.</param>
/// <param name="CacheMib">Files each guest writes to its disk and reads back at start.</param>
/// <param name="Accelerator">TCG, KVM or auto.</param>
/// <param name="Peers">Also run the two peers (free page reporting alone, no balloon).</param>
public sealed record QemuBalloonBenchSettings(int Guests = 4, int RamMib = 384, int BudgetMib = 768, int GrowMib = 256, int CacheMib = 150,
    Accelerator Accelerator = Accelerator.Auto, bool Peers = true)
{
    /// <summary>Checks the settings.</summary>
    /// <exception cref="QemuException"><see cref="QemuError.InvalidArgument"/>.</exception>
    public void Validate()
    {
        if (Guests is < 2 or > 16) throw new QemuException(QemuError.InvalidArgument, $"2-16 guests, not {Guests}");
        if (RamMib is < 128 or > 8192) throw new QemuException(QemuError.InvalidArgument, $"128-8192 MiB per guest, not {RamMib}");
        if (BudgetMib < 64) throw new QemuException(QemuError.InvalidArgument, $"a budget of at least 64 MiB, not {BudgetMib}");
        if (GrowMib < 10 || GrowMib > RamMib * 85 / 100) throw new QemuException(QemuError.InvalidArgument, $"growth of 10 MiB to the guest's tmpfs (85 % of its RAM), not {GrowMib}");
        if (CacheMib < 1 || CacheMib > RamMib) throw new QemuException(QemuError.InvalidArgument, $"1 MiB to the guest's RAM of files, not {CacheMib}");
    }
}

/// <summary>
/// <c>gmm bench qemu-balloon</c>: over-commit of real QEMU guests. The same workload three times: with
/// GuestMemory's balloon controller (<see cref="QemuOvercommit"/>), with QEMU's free page reporting alone,
/// and with no balloon. Figures: the peak of the guests' resident RAM over the budget in each, the balloon
/// settle times, OOM kills and growers that waited for memory (docs/qemu-balloon.md).
/// </summary>
public static class QemuBalloonBench
{
    /// <summary>Runs the benchmark; every QEMU and disk image it creates is removed before it returns, also on failure and Ctrl+C.</summary>
    public static async Task<QemuBalloonBenchResult> RunAsync(QemuBalloonBenchSettings settings, IProgress<BenchProgress>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        GuestKernel kernel = GuestKernel.Find();
        GuestImage image = GuestImage.BuildCached(kernel, GuestImage.DefaultCacheDirectory,
            new GuestImageOptions { Modules = GuestImageOptions.DefaultModules.Concat(GuestDisk.Modules).Distinct().ToArray() });
        var runs = new List<QemuBalloonRunResult>();
        QemuBalloonMode[] modes = settings.Peers ? [QemuBalloonMode.Controller, QemuBalloonMode.FreePageReporting, QemuBalloonMode.NoBalloon] : [QemuBalloonMode.Controller];
        foreach (QemuBalloonMode mode in modes) runs.Add(await QemuBalloonRun.RunAsync(mode, settings, kernel, image, progress, cancel));
        return new QemuBalloonBenchResult(settings, kernel.Version, runs);
    }
}

/// <summary>What <see cref="QemuBalloonBench"/> measured: one run per mode, the controller's first.</summary>
public sealed record QemuBalloonBenchResult(QemuBalloonBenchSettings Settings, string Kernel, IReadOnlyList<QemuBalloonRunResult> Runs)
{
    /// <summary>The controller's run.</summary>
    public QemuBalloonRunResult Controller => Runs[0];

    /// <summary>A mode's run, or null when it was not run.</summary>
    public QemuBalloonRunResult? Run(QemuBalloonMode mode) => Runs.FirstOrDefault(r => r.Mode == mode);

    /// <summary>How far a run's peak went over the budget, percent of the budget (0 when it stayed under).</summary>
    public double OverBudgetPct(QemuBalloonRunResult run)
    {
        long budget = (long)Settings.BudgetMib << 20;
        return Math.Max(0, run.PeakResidentBytes - budget) * 100.0 / budget;
    }

    /// <summary>The <paramref name="p"/>-th percentile of the controller's settle times, ms (NaN without any).</summary>
    public double SettlePercentile(double p)
    {
        double[] sorted = Controller.SettleMs.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(p / 100 * sorted.Length) - 1, 0, sorted.Length - 1)];
    }
}
