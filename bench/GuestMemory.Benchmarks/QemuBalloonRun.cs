using System.Diagnostics;
using GuestMemory.Balloon;
using GuestMemory.Qemu;

namespace GuestMemory.Benchmarks;

/// <summary>How the guests of one <see cref="QemuBalloonRun"/> are over-committed.</summary>
public enum QemuBalloonMode
{
    /// <summary>GuestMemory's controller drives every balloon (free page reporting and deflate-on-oom on).</summary>
    Controller,
    /// <summary>QEMU's free page reporting alone: no controller, balloons at 0.</summary>
    FreePageReporting,
    /// <summary>No balloon device at all.</summary>
    NoBalloon,
}

/// <summary>What one mode measured.</summary>
public sealed record QemuBalloonRunResult
{
    public QemuBalloonMode Mode { get; init; }
    /// <summary>The guests' memfds' resident bytes at their highest (sampled every 10 ms through the turns).</summary>
    public long PeakResidentBytes { get; init; }
    /// <summary>The guests' QEMUs' RSS summed, at its highest (sampled every 100 ms).</summary>
    public long PeakQemuRssBytes { get; init; }
    /// <summary>Balloon settle times, target set to actual reached (controller only), milliseconds.</summary>
    public IReadOnlyList<double> SettleMs { get; init; } = [];
    /// <summary>Processes the guests' OOM killers ended (their consoles).</summary>
    public int OomKills { get; init; }
    /// <summary>Writes of a grower that took more than a second (it waited for memory).</summary>
    public int Stalls { get; init; }
    /// <summary>The slowest 10 MiB write of a grower, milliseconds.</summary>
    public double SlowestWriteMs { get; init; }
}

/// <summary>
/// One mode of <c>gmm bench qemu-balloon</c> (<see cref="QemuBalloonBench"/>): boots the guests, each with
/// an ext4 disk of its own; each writes its files and reads them back (a clean, droppable page cache); then,
/// in turns, one guest grows into tmpfs, holds, and deletes it while the others idle. The guests' resident
/// RAM is sampled every 10 ms from the first turn to the last. Every QEMU and disk is ended and removed.
/// </summary>
internal static class QemuBalloonRun
{
    private const int WriteMib = 10;

    public static async Task<QemuBalloonRunResult> RunAsync(QemuBalloonMode mode, QemuBalloonBenchSettings s, GuestKernel kernel, GuestImage image,
        IProgress<BenchProgress>? progress, CancellationToken cancel)
    {
        string dir = Directory.CreateTempSubdirectory("gmm-balloon-bench-").FullName;
        var guests = new List<QemuGuest>();
        QemuOvercommit? overcommit = null;
        try
        {
            progress?.Report(new BenchProgress($"{Name(mode)}: booting {s.Guests} guests of {s.RamMib} MiB", 0, s.Guests));
            var options = new List<GuestOptions>();
            for (int i = 1; i <= s.Guests; i++)
            {
                string disk = Path.Combine(dir, $"disk{i}.img");
                GuestDisk.CreateExt4(disk, (long)(s.CacheMib + 64) << 20);
                options.Add(new GuestOptions
                {
                    Name = $"balloon{i}", RamBytes = (long)s.RamMib << 20, Kernel = kernel, Image = image, Accelerator = s.Accelerator,
                    Disks = [disk], BootTimeout = TimeSpan.FromMinutes(5),
                    Balloon = mode == QemuBalloonMode.NoBalloon ? null : new BalloonDevice(FreePageReporting: true, DeflateOnOom: mode == QemuBalloonMode.Controller),
                });
            }
            guests.AddRange(await QemuBench.StartAllAsync(options, cancel));
            foreach (QemuGuest g in guests)
                GrowthRoom.Check(g.Name, g.Options.RamBytes, (await g.RequireShell().MemInfoAsync(cancel)).AvailableBytes, s.GrowMib);
            var settle = new List<double>();
            if (mode == QemuBalloonMode.Controller)
            {
                overcommit = new QemuOvercommit(new BalloonControllerOptions { HostBudgetBytes = (long)s.BudgetMib << 20, Period = TimeSpan.FromMilliseconds(20) });
                overcommit.Controller.Settled += (_, waited) => { lock (settle) settle.Add(waited.TotalMilliseconds); };
                foreach (QemuGuest g in guests) await overcommit.AddAsync(g, new QemuBalloonPolicy { MinimumRamBytes = 64L << 20 }, cancel);
                overcommit.Start();
            }
            progress?.Report(new BenchProgress($"{Name(mode)}: each guest writes {s.CacheMib} MiB of files to its disk and reads them back", 0, s.Guests));
            await Task.WhenAll(guests.Select(g => WarmCacheAsync(g.RequireShell(), s.CacheMib, cancel)));
            await Task.Delay(TimeSpan.FromSeconds(3), cancel); // let the controller (or free page reporting) catch up
            lock (settle) settle.Clear(); // settle times of the turns only

            using var sampling = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            Task<(long, long)> sampler = Task.Run(() => Sample(guests, sampling.Token), CancellationToken.None);
            var writes = new List<double>();
            for (int turn = 0; turn < guests.Count; turn++)
            {
                progress?.Report(new BenchProgress($"{Name(mode)}: {guests[turn].Name} grows to {s.GrowMib} MiB of tmpfs, holds, deletes", turn, guests.Count));
                writes.AddRange(await GrowAsync(guests[turn].RequireShell(), s.GrowMib, cancel));
                await Task.Delay(TimeSpan.FromSeconds(2), cancel);
                await guests[turn].RequireShell().FreeAllAsync(cancel);
                await Task.Delay(TimeSpan.FromSeconds(3), cancel);
            }
            sampling.Cancel();
            (long peakResident, long peakQemu) = await sampler;
            if (guests.FirstOrDefault(g => g.State == GuestState.Exited) is QemuGuest dead)
                throw new QemuException(QemuError.GuestDied, $"{Name(mode)}: guest {dead.Name} ended during the run: {dead.LastWords()}");
            double[] settled;
            lock (settle) settled = settle.ToArray();
            return new QemuBalloonRunResult
            {
                Mode = mode, PeakResidentBytes = peakResident, PeakQemuRssBytes = peakQemu, SettleMs = settled,
                OomKills = guests.Sum(GuestConsole.OomKills), Stalls = writes.Count(ms => ms > 1000), SlowestWriteMs = writes.DefaultIfEmpty(0).Max(),
            };
        }
        finally
        {
            if (overcommit != null) await overcommit.DisposeAsync();
            foreach (QemuGuest g in guests) await g.DisposeAsync();
            Directory.Delete(dir, recursive: true);
        }
    }

    public static string Name(QemuBalloonMode mode) => mode switch
    {
        QemuBalloonMode.Controller => "controller",
        QemuBalloonMode.FreePageReporting => "free page reporting alone",
        _ => "no balloon",
    };

    /// <summary>Lets tmpfs grow to all the guest's memory (the image mounts it at 85 %, below the 300 MiB a 384 MiB guest's grower writes), mounts its disk, writes files of one random MiB repeated, syncs, and reads them back: a clean page cache.</summary>
    private static Task WarmCacheAsync(GuestShell shell, int mib, CancellationToken cancel) => shell.ShellAsync(
        "mount -o remount,size=100% /tmp && mkdir -p /mnt/disk && mount -t ext4 /dev/vda /mnt/disk && head -c 1048576 /dev/urandom > /run/mib && " +
        $"i=0; while [ $i -lt {mib} ]; do cat /run/mib >> /mnt/disk/file$((i / 10)); i=$((i + 1)); done; " +
        "rm /run/mib && sync && cat /mnt/disk/file* > /dev/null", TimeSpan.FromMinutes(5), cancel: cancel);

    /// <summary>The grower writes <paramref name="mib"/> MiB into tmpfs, 10 MiB at a time; returns each write's milliseconds.</summary>
    private static async Task<List<double>> GrowAsync(GuestShell shell, int mib, CancellationToken cancel)
    {
        var times = new List<double>();
        for (int done = 0; done < mib; done += WriteMib)
        {
            var clock = Stopwatch.StartNew();
            await shell.FillAsync($"grow{done}", Math.Min(WriteMib, mib - done), FillKind.Zero, timeout: TimeSpan.FromMinutes(2), cancel: cancel);
            times.Add(clock.Elapsed.TotalMilliseconds);
        }
        return times;
    }

    /// <summary>Every 10 ms the memfds' resident bytes (every 100 ms the QEMUs' RSS), until cancelled; the peaks.</summary>
    private static async Task<(long, long)> Sample(IReadOnlyList<QemuGuest> guests, CancellationToken stop)
    {
        long peak = 0, peakQemu = 0;
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(10));
        for (long tick = 0; !stop.IsCancellationRequested; tick++)
        {
            peak = Math.Max(peak, guests.Sum(g => g.Ram!.ResidentBytes));
            if (tick % 10 == 0) peakQemu = Math.Max(peakQemu, guests.Sum(g => g.QemuRssBytes ?? 0));
            try { await timer.WaitForNextTickAsync(stop); }
            catch (OperationCanceledException) { break; }
        }
        return (peak, peakQemu);
    }
}
