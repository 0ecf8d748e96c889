using System.Diagnostics;
using GuestMemory.Fusion;
using GuestMemory.Qemu;

namespace GuestMemory.Benchmarks;

/// <summary>What <see cref="QemuBench.RunAsync"/> runs.</summary>
/// <param name="Guests">Guests of the same kernel and image.</param>
/// <param name="RamMib">RAM per guest.</param>
/// <param name="Accelerator">TCG, KVM or auto.</param>
/// <param name="Ksm">Also run the KSM peer (needs root).</param>
public sealed record QemuBenchSettings(int Guests = 4, int RamMib = 256, Accelerator Accelerator = Accelerator.Auto, bool Ksm = true);

/// <summary>
/// <c>gmm bench qemu</c>: real guests. The boot time of one guest alone (QEMU started to the guest's ready
/// line), the speed of reading the guests' RAM through the memfds (pread of the allocated extents), and
/// the exact live analysis of <see cref="QemuBenchSettings.Guests"/> guests of the same image after the
/// same workload (<see cref="QemuWorkload"/>) — beside Linux KSM on the same guests started with
/// anonymous RAM and <c>-machine mem-merge=on</c> (<see cref="QemuKsmPeer"/>).
/// </summary>
public static class QemuBench
{
    private const int ScanRuns = 3;

    /// <summary>Runs the benchmark; every QEMU it starts is ended before it returns, also on failure and Ctrl+C.</summary>
    public static async Task<QemuBenchResult> RunAsync(QemuBenchSettings settings, IProgress<BenchProgress>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (settings.Guests is < 1 or > 16) throw new QemuException(QemuError.InvalidArgument, $"1-16 guests, not {settings.Guests}");
        if (settings.Ksm && !KsmPeer.IsAvailable) throw new GmmException(GmmError.NotSupported, $"the KSM peer needs write access to {KsmSettings.Root} (Linux with KSM, as root); pass --no-ksm to run without it");
        GuestKernel kernel = GuestKernel.Find();
        GuestImage image = GuestImage.BuildCached(kernel, GuestImage.DefaultCacheDirectory);
        long ram = (long)settings.RamMib << 20;
        GuestOptions Options(string name, GuestRamBacking backing) => new()
        {
            Name = name, RamBytes = ram, Kernel = kernel, Image = image, Accelerator = settings.Accelerator, RamBacking = backing,
            MemMerge = backing == GuestRamBacking.Anonymous, BootTimeout = TimeSpan.FromMinutes(5),
        };

        var guests = new List<QemuGuest>();
        QemuBenchResult result;
        try
        {
            progress?.Report(new BenchProgress("booting one guest alone", 0, 1));
            guests.Add(await QemuGuest.StartAsync(Options("bench1", GuestRamBacking.Memfd), cancel));
            double bootSeconds = guests[0].BootTime.TotalSeconds;
            progress?.Report(new BenchProgress($"booting {settings.Guests - 1} more", 0, settings.Guests - 1));
            guests.AddRange(await StartAllAsync(Enumerable.Range(2, settings.Guests - 1).Select(i => Options($"bench{i}", GuestRamBacking.Memfd)), cancel));
            progress?.Report(new BenchProgress("workload", 0, settings.Guests));
            await Task.WhenAll(guests.Select(g => QemuWorkload.RunAsync(g.RequireShell(), ram, cancel)));
            progress?.Report(new BenchProgress("scanning the memfds", 0, ScanRuns));
            (double scanGbps, long scanned) = MeasureScan(guests.Select(g => g.Ram!).ToArray(), cancel);
            progress?.Report(new BenchProgress("exact live analysis (guests paused)", 0, 1));
            LiveFigures live = await LiveAnalysis.AnalyzeAsync(guests, exact: true, cancel);
            long resident = guests.Sum(g => g.Ram!.ResidentPages);
            result = new QemuBenchResult
            {
                Guests = settings.Guests, RamMib = settings.RamMib, Accelerator = guests[0].Accelerator, Kernel = kernel.Version,
                BootSeconds = bootSeconds, ScanGbps = scanGbps, ScannedBytes = scanned, AnalysisSeconds = live.Elapsed.TotalSeconds,
                Figures = live.Figures.Total, InSeveralGuests = live.Figures.DistinctInSeveralFiles, MemfdResidentPages = resident,
            };
        }
        finally
        {
            foreach (QemuGuest g in guests) await g.DisposeAsync();
        }
        if (!settings.Ksm) return result;
        progress?.Report(new BenchProgress("KSM: booting guests with anonymous RAM", 0, settings.Guests));
        KsmQemuResult ksm = await QemuKsmPeer.RunAsync(Enumerable.Range(1, settings.Guests).Select(i => Options($"ksm{i}", GuestRamBacking.Anonymous)).ToArray(), progress, cancel);
        return result with { Ksm = ksm };
    }

    /// <summary>Starts guests in parallel; if any fails, the others are ended and the first failure is thrown.</summary>
    internal static async Task<IReadOnlyList<QemuGuest>> StartAllAsync(IEnumerable<GuestOptions> options, CancellationToken cancel)
    {
        Task<QemuGuest>[] starting = options.Select(o => QemuGuest.StartAsync(o, cancel)).ToArray();
        try
        {
            return await Task.WhenAll(starting);
        }
        catch
        {
            foreach (Task<QemuGuest> t in starting)
                if (t.IsCompletedSuccessfully) await t.Result.DisposeAsync();
            throw;
        }
    }

    /// <summary>Reads every allocated extent of the memfds (no census), <see cref="ScanRuns"/> times; the median rate in GB/s of bytes read.</summary>
    private static (double Gbps, long Bytes) MeasureScan(IReadOnlyList<GuestRam> rams, CancellationToken cancel)
    {
        byte[] buffer = new byte[1 << 20];
        var rates = new List<double>();
        long bytes = 0;
        for (int run = 0; run < ScanRuns; run++)
        {
            var clock = Stopwatch.StartNew();
            bytes = 0;
            foreach (GuestRam ram in rams) bytes += LiveAnalysis.Scan(ram, buffer, _ => { }, _ => { }, cancel).BytesRead;
            rates.Add(bytes / clock.Elapsed.TotalSeconds / 1e9);
        }
        rates.Sort();
        return (rates[rates.Count / 2], bytes);
    }
}

/// <summary>
/// The workload every benchmark guest runs, the same in each: the guest's own module tree copied into
/// its tmpfs (files every guest has), RAM/8 of known text with one seed (the same in every guest),
/// RAM/16 of random data (its own), RAM/16 of zeros, and its page cache left warm.
/// </summary>
public static class QemuWorkload
{
    /// <summary>Runs the workload in one guest.</summary>
    public static async Task RunAsync(GuestShell shell, long ramBytes, CancellationToken cancel)
    {
        ArgumentNullException.ThrowIfNull(shell);
        int eighth = (int)Math.Max(1, ramBytes / 8 >> 20), sixteenth = Math.Max(1, eighth / 2);
        await shell.CopyAsync("/lib/modules", "modules", cancel).ConfigureAwait(false);
        await shell.FillAsync("text", eighth, FillKind.Text, "gmm-bench", cancel: cancel).ConfigureAwait(false);
        await shell.FillAsync("random", sixteenth, FillKind.Random, cancel: cancel).ConfigureAwait(false);
        await shell.FillAsync("zero", sixteenth, FillKind.Zero, cancel: cancel).ConfigureAwait(false);
        await shell.RunAsync("sync", cancel: cancel).ConfigureAwait(false);
    }
}

/// <summary>What <see cref="QemuBench"/> measured.</summary>
public sealed record QemuBenchResult
{
    public int Guests { get; init; }
    public int RamMib { get; init; }
    public Accelerator Accelerator { get; init; }
    public string Kernel { get; init; } = "";
    /// <summary>One guest alone: QEMU started to the guest's ready line on its command channel, seconds.</summary>
    public double BootSeconds { get; init; }
    /// <summary>Reading the guests' allocated RAM through the memfds (pread), GB/s of bytes read (median of 3 scans).</summary>
    public double ScanGbps { get; init; }
    /// <summary>Bytes one scan read (the allocated extents of all memfds).</summary>
    public long ScannedBytes { get; init; }
    /// <summary>The exact live analysis (census of every page, guests paused), seconds.</summary>
    public double AnalysisSeconds { get; init; }
    /// <summary>The figures of all guests together, as <c>gmm analyze</c> computes them for dumps.</summary>
    public PageFigures Figures { get; init; }
    /// <summary>Distinct non-zero contents present in more than one guest.</summary>
    public long InSeveralGuests { get; init; }
    /// <summary>Pages the memfds hold (allocated) at the analysis.</summary>
    public long MemfdResidentPages { get; init; }
    /// <summary>The KSM peer, or null when not run.</summary>
    public KsmQemuResult? Ksm { get; init; }
}
