using System.Diagnostics;
using System.Globalization;
using GuestMemory.Qemu;

namespace GuestMemory.Benchmarks;

/// <summary>What KSM reached on real guests.</summary>
public sealed record KsmQemuResult
{
    /// <summary>Guest pages of all guests.</summary>
    public long GuestPages { get; init; }
    /// <summary>Guest RAM pages resident in the QEMUs (their RAM mappings' Rss) at convergence.</summary>
    public long ResidentPages { get; init; }
    /// <summary>KSM's pages_sharing at convergence.</summary>
    public long PagesSharing { get; init; }
    /// <summary>KSM's pages_shared at convergence.</summary>
    public long PagesShared { get; init; }
    /// <summary>Full scans ksmd made.</summary>
    public long FullScans { get; init; }
    /// <summary>From starting ksmd until pages_sharing first reached 99% of its final value, seconds.</summary>
    public double ConvergeSeconds { get; init; }
    /// <summary>True when KSM stopped growing within the time limit; false when the figures are what it had when time ran out.</summary>
    public bool Converged { get; init; }
    /// <summary>
    /// Guest pages that need no host page of their own, in percent: untouched RAM (never resident, like the
    /// zero pages of the live analysis) plus pages_sharing: (guest pages − (resident − pages_sharing)) / guest pages.
    /// </summary>
    public double SavingsPct => GuestPages > 0 ? 100.0 * (GuestPages - (ResidentPages - PagesSharing)) / GuestPages : 0;
}

/// <summary>
/// Linux KSM on real guests: the same guests as <see cref="QemuBench"/> with anonymous RAM and
/// <c>-machine mem-merge=on</c> (QEMU marks guest RAM MADV_MERGEABLE), the same workload, ksmd tuned
/// (pages_to_scan 10000, sleep_millisecs 0) and its knobs restored afterwards — on normal end, failure and
/// Ctrl+C (<see cref="KsmSettings"/>).
/// </summary>
/// <remarks>
/// Running guests keep changing a few pages, so KSM never stands quite still: it counts as converged when
/// pages_sharing grew by less than 0.5 % over the last two full scans (after at least three), or after
/// three minutes, when what it reached is reported with <see cref="KsmQemuResult.Converged"/> false.
/// </remarks>
public static class QemuKsmPeer
{
    private static readonly string[] Knobs = ["run", "pages_to_scan", "sleep_millisecs"];
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(3), Poll = TimeSpan.FromMilliseconds(200);

    /// <summary>Boots the guests, runs the workload, lets KSM merge, and ends every QEMU.</summary>
    public static async Task<KsmQemuResult> RunAsync(IReadOnlyList<GuestOptions> guests, IProgress<BenchProgress>? progress, CancellationToken cancel)
    {
        using KsmSettings settings = KsmSettings.Take(Knobs, out _);
        if (KsmPeer.OthersMergingPages() is long others and > 0)
            throw new GmmException(GmmError.NotSupported, $"other processes have {others} pages merged by KSM: its figures would mix with ours");
        KsmPeer.FlushStaleCounters(settings);
        IReadOnlyList<QemuGuest> started = await QemuBench.StartAllAsync(guests, cancel);
        try
        {
            progress?.Report(new BenchProgress("KSM: workload", 0, started.Count));
            await Task.WhenAll(started.Select(g => QemuWorkload.RunAsync(g.RequireShell(), g.Options.RamBytes, cancel)));
            settings.Set("pages_to_scan", "10000");
            settings.Set("sleep_millisecs", "0");
            return await ConvergeAsync(settings, started, progress, cancel);
        }
        finally
        {
            foreach (QemuGuest g in started) await g.DisposeAsync();
            KsmPeer.FlushStaleCounters(settings);
            settings.Restore();
        }
    }

    private static async Task<KsmQemuResult> ConvergeAsync(KsmSettings settings, IReadOnlyList<QemuGuest> guests, IProgress<BenchProgress>? progress, CancellationToken cancel)
    {
        long firstScan = KsmSettings.ReadLong("full_scans");
        var sharingAtScan = new Dictionary<long, long>();
        var samples = new List<(TimeSpan At, long Sharing)>();
        var clock = Stopwatch.StartNew();
        settings.Set("run", "1");
        bool converged = false;
        while (clock.Elapsed < Limit)
        {
            await Task.Delay(Poll, cancel);
            long scans = KsmSettings.ReadLong("full_scans") - firstScan, sharing = KsmSettings.ReadLong("pages_sharing");
            samples.Add((clock.Elapsed, sharing));
            sharingAtScan[scans] = sharing;
            progress?.Report(new BenchProgress("KSM: merging", scans, 0));
            if (scans >= 3 && sharingAtScan.TryGetValue(scans - 2, out long before) && sharing <= before * 1.005 && sharing > 0)
            {
                converged = true;
                break;
            }
            if (guests.FirstOrDefault(g => g.State == GuestState.Exited) is QemuGuest dead)
                throw new QemuException(QemuError.GuestDied, $"guest {dead.Name} died during the KSM run: {dead.LastWords()}");
        }
        long final = KsmSettings.ReadLong("pages_sharing");
        double reached = samples.FirstOrDefault(s => s.Sharing >= final * 0.99).At.TotalSeconds;
        return new KsmQemuResult
        {
            GuestPages = guests.Sum(g => g.Options.RamBytes) >> 12,
            ResidentPages = guests.Sum(g => RamResidentBytes(g.Pid, g.Options.RamBytes)) >> 12,
            PagesSharing = final,
            PagesShared = KsmSettings.ReadLong("pages_shared"),
            FullScans = KsmSettings.ReadLong("full_scans") - firstScan,
            ConvergeSeconds = reached,
            Converged = converged,
        };
    }

    /// <summary>
    /// Rss of QEMU's guest RAM mapping: the mapping in /proc/PID/smaps whose size is the RAM size (QEMU may
    /// add a small guard, so the smallest mapping of at least that size).
    /// </summary>
    internal static long RamResidentBytes(int pid, long ramBytes)
    {
        long bestSize = long.MaxValue, bestRss = 0, size = 0;
        foreach (string line in File.ReadLines($"/proc/{pid}/smaps"))
        {
            if (line.StartsWith("Size:", StringComparison.Ordinal)) size = Kib(line) * 1024;
            else if (line.StartsWith("Rss:", StringComparison.Ordinal) && size >= ramBytes && size < bestSize)
                (bestSize, bestRss) = (size, Kib(line) * 1024);
        }
        if (bestSize == long.MaxValue) throw new GmmException(GmmError.NotSupported, $"QEMU {pid} has no mapping of {ramBytes >> 20} MiB");
        return bestRss;
    }

    private static long Kib(string line) =>
        long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
}
