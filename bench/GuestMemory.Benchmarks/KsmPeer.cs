using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using GuestMemory.Fusion;
using GuestMemory.Host;

namespace GuestMemory.Benchmarks;

/// <summary>
/// Linux KSM as the peer of <see cref="FusionBench"/>: the same dumps in MADV_MERGEABLE anonymous
/// memory of this process, ksmd tuned (pages_to_scan 10000, sleep_millisecs 0) and started, the
/// original knobs restored afterwards (see <see cref="KsmSettings"/>).
/// </summary>
/// <remarks>
/// <para><b>Convergence.</b> KSM reports no "done": it is taken as converged once pages_sharing and
/// pages_shared have not changed for one whole full scan after the scan in which they last changed
/// (and at least three full scans ran: KSM merges nothing in its first scan, which only checksums).
/// <see cref="KsmPeerResult.ConvergeSeconds"/> is the time from starting ksmd to that last change;
/// <see cref="KsmPeerResult.CpuSeconds"/> is ksmd's CPU time (utime + stime from /proc) up to the end of
/// the first full scan after the last change, the counterpart of fusion's one confirming pass.</para>
/// <para><b>Savings.</b> pages_sharing / guest pages (plus ksm_zero_pages when use_zero_pages is on),
/// the guest pages that need no page of their own. KSM lets at most max_page_sharing (256) pages
/// share one KSM page, so frequent contents such as the zero page need many copies.</para>
/// </remarks>
public static partial class KsmPeer
{
    /// <summary>The knobs this peer changes (and restores).</summary>
    public static readonly string[] Knobs = ["run", "pages_to_scan", "sleep_millisecs"];
    private const string PagesToScan = "10000", SleepMilliseconds = "0";
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(10), Timeout = TimeSpan.FromMinutes(5), FlushTimeout = TimeSpan.FromSeconds(10);

    /// <summary>True when this process may tune KSM (the folder exists and is writable: root).</summary>
    public static bool IsAvailable => KsmSettings.IsWritable();

    /// <summary>Runs KSM over <paramref name="dumps"/> until it converges.</summary>
    /// <exception cref="GmmException"><see cref="GmmError.NotSupported"/> when KSM cannot be tuned or is in use by others.</exception>
    public static KsmPeerResult Run(IReadOnlyList<string> dumps, IProgress<BenchProgress>? progress = null, CancellationToken cancel = default)
    {
        if (!IsAvailable) throw new GmmException(GmmError.NotSupported, $"the KSM peer needs write access to {KsmSettings.Root} (Linux with KSM, as root)");
        using KsmSettings settings = KsmSettings.Take(Knobs, out string? repaired);
        if (OthersMergingPages() is long others and > 0)
            throw new GmmException(GmmError.NotSupported, $"other processes have {others} pages merged by KSM: its figures would mix with ours");
        FlushStaleCounters(settings); // left by exited processes (KSM cleans them up only while it runs)
        var regions = new List<(nint Address, nuint Bytes)>();
        try
        {
            long pages = Fill(dumps, regions, progress, cancel);
            settings.Set("pages_to_scan", PagesToScan);
            settings.Set("sleep_millisecs", SleepMilliseconds);
            return Converge(settings, pages, progress, cancel) with { Repaired = repaired };
        }
        finally
        {
            foreach ((nint address, nuint bytes) in regions) LinuxNative.Munmap(address, bytes);
            FlushStaleCounters(settings); // so the next run (and anyone reading the counters) starts from zero
            settings.Restore();
        }
    }

    /// <summary>
    /// Pages other live processes have merged by KSM (from /proc/*/ksm_merging_pages), or null when the
    /// kernel does not say (before 6.1): then any non-zero global counter counts as in use.
    /// </summary>
    internal static long? OthersMergingPages()
    {
        if (!File.Exists("/proc/self/ksm_merging_pages")) return KsmSettings.ReadLong("pages_shared") + KsmSettings.ReadLong("pages_sharing");
        long merged = 0;
        foreach (string dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid) || pid == Environment.ProcessId) continue;
            try { merged += long.Parse(File.ReadAllText(Path.Combine(dir, "ksm_merging_pages")), CultureInfo.InvariantCulture); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException) { /* gone, or a kernel thread */ }
        }
        return merged;
    }

    /// <summary>
    /// KSM's global counters still count the pages of processes that exited or unmapped their memory
    /// until ksmd runs again; run it briefly (bounded) until they are zero.
    /// </summary>
    internal static void FlushStaleCounters(KsmSettings settings)
    {
        if (settings.IsRestored || KsmSettings.ReadLong("pages_shared") + KsmSettings.ReadLong("pages_sharing") == 0) return;
        settings.Set("run", "1");
        var clock = Stopwatch.StartNew();
        while (!settings.IsRestored && KsmSettings.ReadLong("pages_shared") + KsmSettings.ReadLong("pages_sharing") > 0 && clock.Elapsed < FlushTimeout)
            Thread.Sleep(PollInterval);
        settings.Set("run", "0");
    }

    private static long Fill(IReadOnlyList<string> dumps, List<(nint, nuint)> regions, IProgress<BenchProgress>? progress, CancellationToken cancel)
    {
        long total = 0;
        foreach (string path in dumps)
        {
            using GuestDump dump = GuestDump.Open(path);
            nuint bytes = (nuint)(dump.PageHint << Paging.PageShift);
            nint region = LinuxNative.MapAnonymousNoReserve(bytes);
            if (region == 0) throw new GmmException(GmmError.HostOutOfMemory, $"cannot map {bytes >> 20} MiB for {path}");
            regions.Add((region, bytes));
            if (LinuxNative.Madvise(region, bytes, LinuxNative.MadvMergeable) != 0)
                throw new GmmException(GmmError.NotSupported, $"madvise(MADV_MERGEABLE) failed: errno {Marshal.GetLastPInvokeError()}");
            total += Copy(dump, region, bytes, cancel, done => progress?.Report(new BenchProgress("KSM: loading dumps", done, 0)));
        }
        return total;
    }

    private static unsafe long Copy(GuestDump dump, nint region, nuint bytes, CancellationToken cancel, Action<long> report)
    {
        const int slice = 256 * Paging.PageSize;
        long pages = 0;
        for (nuint offset = 0; offset < bytes; offset += slice)
        {
            cancel.ThrowIfCancellationRequested();
            int n = dump.ReadPages(new Span<byte>((byte*)region + offset, (int)Math.Min(slice, bytes - offset)));
            if (n == 0) break;
            pages += n;
            report(pages);
        }
        return pages;
    }

    private static KsmPeerResult Converge(KsmSettings settings, long pages, IProgress<BenchProgress>? progress, CancellationToken cancel)
    {
        int ksmd = FindKsmd();
        double cpuStart = KsmdCpuSeconds(ksmd);
        long firstScan = KsmSettings.ReadLong("full_scans"), changeScan = firstScan;
        long sharing = -1, shared = -1;
        var cpuAtScan = new Dictionary<long, double>();
        var clock = Stopwatch.StartNew();
        settings.Set("run", "1");
        TimeSpan changedAt = TimeSpan.Zero;
        while (true)
        {
            Thread.Sleep(PollInterval);
            cancel.ThrowIfCancellationRequested();
            long scans = KsmSettings.ReadLong("full_scans"), nowSharing = KsmSettings.ReadLong("pages_sharing"), nowShared = KsmSettings.ReadLong("pages_shared");
            cpuAtScan.TryAdd(scans, KsmdCpuSeconds(ksmd));
            if (nowSharing != sharing || nowShared != shared)
                (sharing, shared, changeScan, changedAt) = (nowSharing, nowShared, scans, clock.Elapsed);
            progress?.Report(new BenchProgress("KSM: scanning", scans - firstScan, changeScan - firstScan + 2));
            if (scans >= firstScan + 3 && scans >= changeScan + 2) break;
            if (clock.Elapsed > Timeout) throw new TimeoutException($"KSM did not converge within {Timeout.TotalMinutes} minutes");
        }
        long zero = KsmSettings.Read("use_zero_pages") == "1" ? KsmSettings.ReadLong("ksm_zero_pages") : 0;
        return new KsmPeerResult
        {
            GuestPages = pages,
            PagesSharing = sharing,
            PagesShared = shared,
            ZeroPages = zero,
            FullScans = KsmSettings.ReadLong("full_scans") - firstScan,
            ConvergeSeconds = changedAt.TotalSeconds,
            CpuSeconds = cpuAtScan[changeScan + 1] - cpuStart,
        };
    }

    /// <summary>The pid of the ksmd kernel thread.</summary>
    private static int FindKsmd()
    {
        foreach (string dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
            try { if (File.ReadAllText(Path.Combine(dir, "comm")).Trim() == "ksmd") return pid; }
            catch (IOException) { /* gone meanwhile */ }
        }
        throw new GmmException(GmmError.NotSupported, "no ksmd thread found");
    }

    /// <summary>utime + stime of a thread, from /proc/pid/stat (fields 14 and 15, in clock ticks).</summary>
    private static double KsmdCpuSeconds(int pid)
    {
        string stat = File.ReadAllText($"/proc/{pid}/stat");
        string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' '); // fields from 3 (state) on
        long ticks = long.Parse(fields[14 - 3], CultureInfo.InvariantCulture) + long.Parse(fields[15 - 3], CultureInfo.InvariantCulture);
        return (double)ticks / ClockTicksPerSecond();
    }

    private static long ClockTicksPerSecond() => SysConf(ScClkTck) is > 0 and var hz ? hz : 100;

    private const int ScClkTck = 2;

    [LibraryImport("libc", EntryPoint = "sysconf")]
    private static partial long SysConf(int name);
}

/// <summary>What <see cref="KsmPeer.Run"/> measured.</summary>
public sealed record KsmPeerResult
{
    /// <summary>Pages of all dumps.</summary>
    public long GuestPages { get; init; }
    /// <summary>KSM's pages_sharing at convergence: pages that use a KSM page without owning it.</summary>
    public long PagesSharing { get; init; }
    /// <summary>KSM's pages_shared: KSM pages in use.</summary>
    public long PagesShared { get; init; }
    /// <summary>ksm_zero_pages when use_zero_pages is on, else 0.</summary>
    public long ZeroPages { get; init; }
    /// <summary>Full scans ksmd made until convergence was recognised.</summary>
    public long FullScans { get; init; }
    /// <summary>Wall time from starting ksmd to the last change of its figures.</summary>
    public double ConvergeSeconds { get; init; }
    /// <summary>ksmd's CPU time until one full scan after the last change.</summary>
    public double CpuSeconds { get; init; }
    /// <summary>(pages_sharing + zero pages) / guest pages, in percent.</summary>
    public double SavingsPct => GuestPages > 0 ? 100.0 * (PagesSharing + ZeroPages) / GuestPages : 0;
    /// <summary>Knob values a killed earlier run had left changed and that were restored first, or null.</summary>
    public string? Repaired { get; init; }
}
