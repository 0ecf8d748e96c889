using GuestMemory.Gmm;
using System.Diagnostics;
using System.Net;
using GuestMemory.Qemu;

namespace GuestMemory.Benchmarks;

/// <summary>What <see cref="QemuStoreBench.RunAsync"/> runs.</summary>
public sealed record QemuStoreBenchSettings(int RamMib = 256, Accelerator Accelerator = Accelerator.Auto);

/// <summary>
/// <c>gmm bench qemu-store</c>: four real guests of the same kernel and image, each after its own workload
/// (idle; file copies; random data; file copies with some random data), suspended (QMP <c>stop</c>) and then
/// stored twice: by QEMU itself into a file (<c>migrate "exec:cat > F"</c>, then Debian's <c>zstd -3</c> of
/// it) and by a <see cref="QemuVmStore"/> with a folder over TCP. Then one guest is resumed both ways into
/// a new QEMU, and the last guest is moved to a second store that holds the other three (beside the bytes
/// QEMU's own migration of it sends).
/// </summary>
public static class QemuStoreBench
{
    /// <summary>The workloads, one per guest, as the result names them.</summary>
    public static readonly string[] Workloads =
    [
        "idle",
        "file copies: /lib/modules twice, 32 MiB of text files",
        "random data: 32 MiB",
        "file copies: /lib/modules, 16 MiB of text files, 8 MiB of random data",
    ];

    /// <summary>Resumes of guest 2 each way, in turns.</summary>
    public const int ResumeRounds = 15;

    private static readonly TimeSpan Long = TimeSpan.FromMinutes(5);

    internal static double Median(double[] values)
    {
        double[] sorted = [.. values.Order()];
        return sorted[sorted.Length / 2];
    }

    /// <summary>Runs the benchmark; every QEMU it starts is ended before it returns, also on failure and Ctrl+C.</summary>
    public static async Task<QemuStoreFigures> RunAsync(QemuStoreBenchSettings settings, IProgress<BenchProgress>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(settings);
        GuestKernel kernel = GuestKernel.Find();
        GuestImage image = GuestImage.BuildCached(kernel, GuestImage.DefaultCacheDirectory);
        long ram = (long)settings.RamMib << 20;
        GuestOptions Options(string name) => new()
        {
            Name = name, RamBytes = ram, Kernel = kernel, Image = image, Accelerator = settings.Accelerator, BootTimeout = TimeSpan.FromMinutes(5),
        };
        string work = Directory.CreateTempSubdirectory("gmm-bench-qemu-store-").FullName;
        var guests = new List<QemuGuest>();
        try
        {
            progress?.Report(new BenchProgress("booting 4 guests", 0, 4));
            guests.AddRange(await QemuBench.StartAllAsync(Enumerable.Range(1, 4).Select(i => Options($"store{i}")), cancel));
            progress?.Report(new BenchProgress("workloads", 0, 4));
            await Task.WhenAll(guests.Select((g, i) => RunWorkloadAsync(g.RequireShell(), i, cancel)));
            foreach (QemuGuest g in guests) await g.Qmp.StopAsync(cancel);

            using var gmm = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = 8L << 30 });
            string folder = Path.Combine(work, "store");
            using QemuVmStore store = QemuVmStore.Open(gmm, new QemuStoreOptions { Directory = folder });
            var files = new string[guests.Count];
            LiveFigures live;
            double qemuStore = 0, zstd = 0, ours = 0;
            long zstdBytes = 0;
            await using (QemuStoreListener listener = QemuStoreListener.Start(store, IPAddress.Loopback, 0, () => $"g{store.List().Count + 1}"))
            {
                for (int i = 0; i < guests.Count; i++)
                {
                    progress?.Report(new BenchProgress($"storing guest {i + 1}: QEMU to a file, zstd, GuestMemory's store", i, guests.Count));
                    files[i] = Path.Combine(work, $"g{i + 1}.qemu");
                    qemuStore += await MigrateAsync(guests[i], $"exec:cat > {files[i]}", cancel);
                    // QEMU does not migrate a guest it paused for a migration again: run it for a moment and stop it.
                    await guests[i].Qmp.ContAsync(cancel);
                    await guests[i].Qmp.StopAsync(cancel);
                    (double seconds, long bytes) = Zstd(files[i]);
                    zstd += seconds;
                    zstdBytes += bytes;
                    var clock = Stopwatch.StartNew();
                    await guests[i].Qmp.MigrateAsync($"tcp:127.0.0.1:{listener.Port}", cancel);
                    StoreArrival arrival = await listener.NextAsync(Long, cancel);
                    if (arrival.Error != null) throw arrival.Error;
                    ours += clock.Elapsed.TotalSeconds;
                }
            }
            long hostBytes = gmm.Statistics.AllocatedPages * QemuStreamFormat.PageSize;
            long fileBytes = Directory.GetFiles(folder).Where(f => !f.EndsWith("store.lock", StringComparison.Ordinal)).Sum(f => new FileInfo(f).Length);
            IReadOnlyList<StoredVmInfo> stored = store.List();
            long guestBytes = stored.Sum(v => v.GuestRamBytes);

            // A resume takes a fraction of a second to a second of two busy cores, and this machine's speed drifts
            // (the same resume took 0.3 s and 1.1 s minutes apart): rounds of the three resumes back to back, in
            // an order that turns each round, medians, and the median of each round's ratios, which the drift
            // between rounds does not move.
            var resumes = new Resume[3][];
            for (int way = 0; way < 3; way++) resumes[way] = new Resume[ResumeRounds];
            var ratios = new double[ResumeRounds];
            var streamRatios = new double[ResumeRounds];
            for (int round = 0; round < ResumeRounds; round++)
            {
                progress?.Report(new BenchProgress("resuming guest 2: into a guest of the store's own, through a stream, from QEMU's file", round, ResumeRounds));
                for (int turn = 0; turn < 3; turn++)
                {
                    int way = (round + turn) % 3;
                    resumes[way][round] = way switch
                    {
                        0 => await ResumeGuestFromStoreAsync(store, "g2", Options("resume-guest"), cancel),
                        1 => await ResumeFromStoreAsync(store, "g2", Options("resume-store"), cancel),
                        _ => await ResumeFromFileAsync(files[1], Options("resume-file"), cancel),
                    };
                }
                ratios[round] = resumes[0][round].Seconds / resumes[2][round].Seconds;
                streamRatios[round] = resumes[1][round].Seconds / resumes[2][round].Seconds;
            }
            Resume guestResume = Resume.Median(resumes[0]), streamResume = Resume.Median(resumes[1]), qemuResume = Resume.Median(resumes[2]);

            progress?.Report(new BenchProgress("moving guest 4 to a store that holds the other three", 0, 1));
            using var gmmB = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = 8L << 30 });
            using QemuVmStore other = QemuVmStore.Open(gmmB);
            foreach (string name in new[] { "g1", "g2", "g3" })
            {
                using var copy = new MemoryStream();
                store.WriteStream(name, copy);
                copy.Position = 0;
                other.Receive(copy, name);
            }
            long relayGuest = stored.Single(v => v.Name == "g4").GuestRamBytes;
            GuestMemory.Migration.MoveReport move;
            await using (QemuStoreListener target = QemuStoreListener.Start(other, IPAddress.Loopback, 0))
            {
                move = await store.MoveAsync("g4", "127.0.0.1", target.Port, cancel);
                StoreArrival arrived = await target.NextAsync(Long, cancel);
                if (arrived.Error != null) throw arrived.Error;
            }
            progress?.Report(new BenchProgress("live: guest 4 migrated by QEMU to a QEMU, then relayed QEMU -> host A -> host B -> QEMU", 0, 2));
            await guests[3].Qmp.ContAsync(cancel); // QEMU migrated it to the store stopped; it runs again for the live runs
            (QemuMigrationStatus direct, QemuGuest running) = await MigrateLiveAsync(guests[3], Options("live-direct"), cancel);
            await using (running)
            {
                (_, TimeSpan streamDowntime) = await RelayLiveAsync(running, other, Options("live-relay"), intoGuest: false, cancel);
                await running.Qmp.ContAsync(cancel); // QEMU stopped it for the relay's final pass; it runs again for the second
                (RelayReport relayed, TimeSpan relayDowntime) = await RelayLiveAsync(running, other, Options("live-relay"), intoGuest: true, cancel);
                live = new LiveFigures(direct.TransferredBytes, direct.Downtime, relayed.Move.BytesSent, relayDowntime.TotalMilliseconds, streamDowntime.TotalMilliseconds);
            }
            gmm.Verify();
            gmmB.Verify();
            return new QemuStoreFigures
            {
                Guests = guests.Count, RamMib = settings.RamMib, Workloads = Workloads, GuestBytes = guestBytes,
                StoredBytes = hostBytes + fileBytes, StoreHostBytes = hostBytes, StoreFileBytes = fileBytes,
                QemuStreamBytes = files.Sum(f => new FileInfo(f).Length), ZstdStreamBytes = zstdBytes, ZstdSeconds = zstd,
                StoreSeconds = ours / guests.Count, QemuStoreSeconds = qemuStore / guests.Count,
                ResumeSeconds = guestResume.Seconds, StreamResumeSeconds = streamResume.Seconds, QemuResumeSeconds = qemuResume.Seconds,
                ResumeRatio = Median(ratios), StreamResumeRatio = Median(streamRatios),
                ResumeResidentBytes = guestResume.ResidentBytes, QemuResumeResidentBytes = qemuResume.ResidentBytes,
                RelayBytes = move.BytesSent, RelayGuestBytes = relayGuest, QemuMigrateBytes = live.QemuBytes, QemuMigrateDowntimeMs = live.QemuDowntimeMs,
                RelayLiveBytes = live.RelayBytes, RelayDowntimeMs = live.RelayDowntimeMs, RelayStreamDowntimeMs = live.RelayStreamDowntimeMs,
                NonZeroPages = stored.Sum(v => v.NonZeroPages), SharedPages = stored.Sum(v => v.SharedPages),
            };
        }
        finally
        {
            foreach (QemuGuest g in guests) await g.DisposeAsync();
            try { Directory.Delete(work, recursive: true); } catch (IOException) { }
        }
    }

    private static async Task RunWorkloadAsync(GuestShell shell, int index, CancellationToken cancel)
    {
        switch (index)
        {
            case 0:
                await shell.IdleAsync(1, cancel);
                break;
            case 1:
                await shell.CopyAsync("/lib/modules", "modules-1", cancel);
                await shell.CopyAsync("/lib/modules", "modules-2", cancel);
                await shell.FillAsync("text", 32, FillKind.Text, "bench-files", cancel: cancel);
                break;
            case 2:
                await shell.FillAsync("random", 32, FillKind.Random, cancel: cancel);
                break;
            default:
                await shell.CopyAsync("/lib/modules", "modules", cancel);
                await shell.FillAsync("text", 16, FillKind.Text, "bench-files", cancel: cancel);
                await shell.FillAsync("random", 8, FillKind.Random, cancel: cancel);
                break;
        }
        await shell.RunAsync("sync", cancel: cancel);
    }

    private readonly record struct LiveFigures(long QemuBytes, double QemuDowntimeMs, long RelayBytes, double RelayDowntimeMs, double RelayStreamDowntimeMs);

    /// <summary>QEMU's own live migration of a running guest to a new QEMU on loopback: its figures (bytes, downtime) and the target, running.</summary>
    private static async Task<(QemuMigrationStatus, QemuGuest)> MigrateLiveAsync(QemuGuest source, GuestOptions options, CancellationToken cancel)
    {
        int port = FreePort();
        QemuGuest target = await QemuGuest.StartAsync(options with { Incoming = $"tcp:127.0.0.1:{port}" }, cancel);
        try
        {
            await source.Qmp.MigrateAsync($"tcp:127.0.0.1:{port}", cancel);
            QemuMigrationStatus status = await source.Qmp.WaitForMigrationAsync(Long, cancel);
            if (status.Status != "completed") throw new QemuException(QemuError.GuestDied, $"QEMU's live migration ended {status.Status}: {status.Error}");
            await target.RequireShell().PingAsync(TimeSpan.FromSeconds(60), cancel);
            return (status, target);
        }
        catch
        {
            await target.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// The live relay: the running guest migrates to a relaying host A (a store of its own), which moves it on while
    /// it arrives to <paramref name="hostB"/> (holding the other guests), which resumes it into a new QEMU. Returns
    /// the relay's report and the downtime: QMP STOP at the source to RESUME at the target (QEMU's timestamps).
    /// </summary>
    private static async Task<(RelayReport, TimeSpan)> RelayLiveAsync(QemuGuest source, QemuVmStore hostB, GuestOptions options, bool intoGuest, CancellationToken cancel)
    {
        int port = FreePort();
        // Host B resumes into a QEMU waiting on TCP (started here), or into a guest it starts itself as the relay begins.
        await using QemuGuest? waiting = intoGuest ? null : await QemuGuest.StartAsync(options with { Incoming = $"tcp:127.0.0.1:{port}" }, cancel);
        var stopped = new TaskCompletionSource<DateTimeOffset>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnSourceEvent(QmpEvent e) { if (e.Name == "STOP" && e.Timestamp is DateTimeOffset t) stopped.TrySetResult(t); }
        source.Qmp.EventReceived += OnSourceEvent;
        try
        {
            using var gmmA = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = 4L << 30 });
            using QemuVmStore hostA = QemuVmStore.Open(gmmA);
            var bOptions = intoGuest
                ? new QemuStoreListenerOptions { ResumeGuest = (_, ram) => options with { RamBytes = ram } }
                : new QemuStoreListenerOptions { ResumeTo = ("127.0.0.1", port) };
            await using QemuStoreListener b = QemuStoreListener.Start(hostB, IPAddress.Loopback, 0, options: bOptions);
            await using QemuStoreListener a = QemuStoreListener.Start(hostA, IPAddress.Loopback, 0, () => "g4-live", new QemuStoreListenerOptions { RelayTo = ("127.0.0.1", b.Port) });
            await source.Qmp.MigrateAsync($"tcp:127.0.0.1:{a.Port}", cancel);
            StoreArrival atA = await a.NextAsync(Long, cancel);
            if (atA.Error != null) throw atA.Error;
            StoreArrival atB = await b.NextAsync(Long, cancel);
            if (atB.Error != null) throw atB.Error;
            await using QemuGuest target = waiting ?? atB.Guest!;
            DateTimeOffset resumed = await ResumeEventAsync(target, cancel);
            await target.RequireShell().PingAsync(TimeSpan.FromSeconds(60), cancel);
            gmmA.Verify();
            return (atA.Relayed!, resumed - await stopped.Task.WaitAsync(Long, cancel));
        }
        finally
        {
            source.Qmp.EventReceived -= OnSourceEvent;
        }
    }

    /// <summary>When the target QEMU started running the guest: its RESUME event (QEMU queues every event, so one that came before this asked is found).</summary>
    private static async Task<DateTimeOffset> ResumeEventAsync(QemuGuest target, CancellationToken cancel)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        deadline.CancelAfter(Long);
        await foreach (QmpEvent e in target.Qmp.ReadEventsAsync(deadline.Token))
            if (e.Name == "RESUME" && e.Timestamp is DateTimeOffset t) return t;
        throw new QemuException(QemuError.GuestDied, $"guest {target.Name} never resumed");
    }

    /// <summary>Migrates a (stopped) guest to <paramref name="uri"/> and returns the seconds until QEMU reports it completed.</summary>
    private static async Task<double> MigrateAsync(QemuGuest guest, string uri, CancellationToken cancel)
    {
        var clock = Stopwatch.StartNew();
        await guest.Qmp.MigrateAsync(uri, cancel);
        QemuMigrationStatus status = await guest.Qmp.WaitForMigrationAsync(Long, cancel);
        if (status.Status != "completed") throw new QemuException(QemuError.GuestDied, $"QEMU's migration to {uri} ended {status.Status}: {status.Error}");
        return clock.Elapsed.TotalSeconds;
    }

    /// <summary>Debian's zstd at level 3 on a stream file: seconds and compressed bytes.</summary>
    private static (double Seconds, long Bytes) Zstd(string file)
    {
        var clock = Stopwatch.StartNew();
        using Process zstd = Process.Start(new ProcessStartInfo("zstd", ["-3", "-q", "-f", file, "-o", file + ".zst"]) { RedirectStandardError = true })
            ?? throw new QemuException(QemuError.ToolNotFound, "zstd did not start (Debian: zstd)");
        string errors = zstd.StandardError.ReadToEnd();
        zstd.WaitForExit();
        if (zstd.ExitCode != 0) throw new QemuException(QemuError.ToolNotFound, $"zstd failed ({zstd.ExitCode}): {errors}");
        double seconds = clock.Elapsed.TotalSeconds;
        long bytes = new FileInfo(file + ".zst").Length;
        File.Delete(file + ".zst");
        return (seconds, bytes);
    }

    /// <summary>One resume: seconds from starting the target QEMU to the guest loaded, and the bytes its RAM then holds on the host.</summary>
    private readonly record struct Resume(double Seconds, long ResidentBytes)
    {
        public static Resume Median(Resume[] rounds) => new(QemuStoreBench.Median([.. rounds.Select(r => r.Seconds)]), (long)QemuStoreBench.Median([.. rounds.Select(r => (double)r.ResidentBytes)]));
    }

    /// <summary>The store starts the guest's QEMU (paused) itself and writes its main RAM straight into the guest's memfd.</summary>
    private static async Task<Resume> ResumeGuestFromStoreAsync(QemuVmStore store, string name, GuestOptions options, CancellationToken cancel)
    {
        var clock = Stopwatch.StartNew();
        ResumedGuest resumed = await store.ResumeGuestAsync(name, options with { ExtraArguments = ["-S"] }, cancel);
        double seconds = clock.Elapsed.TotalSeconds;
        await using QemuGuest target = resumed.Guest;
        return await CheckRunsAsync(target, seconds, cancel);
    }

    /// <summary>Starts a paused target QEMU waiting on TCP and resumes the stored guest into it: seconds from the start to its confirmation.</summary>
    private static async Task<Resume> ResumeFromStoreAsync(QemuVmStore store, string name, GuestOptions options, CancellationToken cancel)
    {
        int port = FreePort();
        var clock = Stopwatch.StartNew();
        // As QEMU reading its own file loads while QMP connects, the store sends as soon as the port opens.
        Task<QemuGuest> starting = QemuGuest.StartAsync(options with { Incoming = $"tcp:127.0.0.1:{port}", ExtraArguments = ["-S"] }, cancel);
        Task<ResumeReport> resuming = store.ResumeAsync(name, "127.0.0.1", port, Long, cancel);
        QemuGuest started;
        try { started = await starting; }
        catch
        {
            _ = resuming.ContinueWith(t => t.Exception, TaskScheduler.Default); // it fails once its timeout passes; observed
            throw;
        }
        await using QemuGuest target = started;
        await resuming;
        double seconds = clock.Elapsed.TotalSeconds;
        return await CheckRunsAsync(target, seconds, cancel);
    }

    /// <summary>Starts a paused target QEMU loading QEMU's own file: seconds from the start to its migration's completion.</summary>
    private static async Task<Resume> ResumeFromFileAsync(string file, GuestOptions options, CancellationToken cancel)
    {
        var clock = Stopwatch.StartNew();
        await using QemuGuest target = await QemuGuest.StartAsync(options with { Incoming = $"exec:cat {file}", ExtraArguments = ["-S"] }, cancel);
        QemuMigrationStatus status = await target.Qmp.WaitForMigrationAsync(Long, cancel);
        double seconds = clock.Elapsed.TotalSeconds;
        if (status.Status != "completed") throw new QemuException(QemuError.GuestDied, $"QEMU did not load its own file: {status.Status} {status.Error}");
        return await CheckRunsAsync(target, seconds, cancel);
    }

    /// <summary>The resumed guest goes on: continued, its command channel answers. Its RAM's host bytes are taken first, as the resume left them.</summary>
    private static async Task<Resume> CheckRunsAsync(QemuGuest target, double seconds, CancellationToken cancel)
    {
        long resident = target.Ram!.ResidentBytes;
        await target.Qmp.ContAsync(cancel);
        await target.RequireShell().PingAsync(TimeSpan.FromSeconds(60), cancel);
        return new Resume(seconds, resident);
    }

    private static int FreePort()
    {
        var probe = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return port;
    }
}
