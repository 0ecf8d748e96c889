using System.Net;
using GuestMemory.Qemu.Tests.Support;

namespace GuestMemory.Qemu.Tests.RealGuests;

/// <summary>
/// The live path: a running guest migrates from its QEMU to GuestMemory host A, which relays it while it
/// arrives to GuestMemory host B with GuestMemory's own protocol, which resumes it into a QEMU waiting with
/// <c>-incoming</c> or into a guest of its own that it started as the relay began. The guest runs at the
/// source until QEMU's final pass, runs on at the target with its files and its heartbeat, and neither host
/// keeps anything of it; the downtime (QMP STOP at the source to RESUME at the target) is measured. A guest
/// host B cannot start for it leaves the VM kept at B.
/// </summary>
public sealed class RelayRealGuestTests(ITestOutputHelper output)
{
    private const long RamBytes = 128L << 20;
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(2);
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Theory(Timeout = 300_000)]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_running_guest_relayed_through_two_hosts_runs_on_in_the_target_QEMU(bool intoGuestOfB)
    {
        await using QemuGuest source = await RealGuestFixture.StartGuestAsync(intoGuestOfB ? "relay-src-g" : "relay-src", RamBytes);
        GuestShell shell = source.RequireShell();
        await shell.FillAsync("known", 4, FillKind.Text, "relay", cancel: Cancel);
        long heartbeatBefore = await shell.HeartbeatAsync(Cancel);
        (QemuGuest? waiting, int targetPort) = intoGuestOfB ? (null, 0) : await StoreGuests.StartTargetAsync("relay-dst", RamBytes, paused: false);
        QemuGuest? target = waiting;
        try
        {
            DateTimeOffset? stopped = null;
            source.Qmp.EventReceived += e => { if (e.Name == "STOP") stopped ??= e.Timestamp; };
            var bOptions = intoGuestOfB
                ? new QemuStoreListenerOptions { ResumeGuest = (_, ram) => RealGuestFixture.Options("relay-own", ram) }
                : new QemuStoreListenerOptions { ResumeTo = ("127.0.0.1", targetPort) };

            using var hostB = new StoreTestHost();
            using var hostA = new StoreTestHost();
            using (QemuVmStore storeB = hostB.Open(folder: false))
            using (QemuVmStore storeA = hostA.Open(folder: false))
            await using (QemuStoreListener b = QemuStoreListener.Start(storeB, IPAddress.Loopback, 0, options: bOptions))
            await using (QemuStoreListener a = QemuStoreListener.Start(storeA, IPAddress.Loopback, 0, () => "relayed", new QemuStoreListenerOptions { RelayTo = ("127.0.0.1", b.Port) }))
            {
                Assert.Equal("running", (await source.Qmp.QueryStatusAsync(Cancel)).Status);
                await source.Qmp.MigrateAsync($"tcp:127.0.0.1:{a.Port}", Cancel);
                StoreArrival atA = await a.NextAsync(Long, Cancel);
                Assert.Null(atA.Error);
                StoreArrival atB = await b.NextAsync(Long, Cancel);
                Assert.Null(atB.Error);
                target ??= atB.Guest;
                Assert.Equal(intoGuestOfB, atB.Guest != null);
                Assert.Equal("completed", (await source.Qmp.WaitForMigrationAsync(Long, Cancel)).Status);
                Assert.Equal(intoGuestOfB ? "resumed as guest relay-own" : $"resumed at 127.0.0.1:{targetPort}", atA.Relayed!.TargetOutcome);
                Assert.NotNull(atB.Resumed);
                Assert.Null(atB.Stored);
                Assert.Empty(storeA.List());
                Assert.Empty(storeB.List());
                Assert.True(atA.Relayed.Move.Passes.Count >= 2, "pre-copy passes while the guest ran, then the final pass");
                Assert.True(atA.Relayed.Move.BytesSent < atA.Relayed.QemuBytes, $"the relay sent {atA.Relayed.Move.BytesSent} bytes for QEMU's {atA.Relayed.QemuBytes}");
            }
            Assert.Empty(hostA.Gmm.Vms);
            Assert.Empty(hostB.Gmm.Vms);

            Assert.NotNull(target);
            // Into B's own guest, zero pages stay holes (the running guest may have zeroed a few since); through the stream, QEMU's load makes them resident.
            long residentZero = StoreGuests.ResidentZeroPages(target.Ram!);
            if (intoGuestOfB) Assert.True(residentZero < 512, $"{residentZero} zero pages resident");
            else Assert.True(residentZero > 1024, $"only {residentZero} zero pages resident after QEMU loaded them");
            GuestShell moved = target.RequireShell();
            long heartbeatAfter = await moved.HeartbeatAsync(Cancel);
            Assert.True(heartbeatAfter >= heartbeatBefore, $"the heartbeat went on from {heartbeatBefore}, not back to {heartbeatAfter}");
            Assert.Equal("4194304", (await moved.ShellAsync("wc -c < /tmp/w/known", cancel: Cancel)).Lines.Single().Trim());
            Assert.Equal("running", (await target.Qmp.QueryStatusAsync(Cancel)).Status);
            Assert.NotNull(stopped);
            DateTimeOffset resumed = await ResumedAsync(target);
            TimeSpan downtime = resumed - stopped.Value;
            output.WriteLine($"downtime (source STOP to target RESUME): {downtime.TotalMilliseconds:0} ms; STOP {stopped.Value.UtcDateTime:HH:mm:ss.fff} RESUME {resumed.UtcDateTime:HH:mm:ss.fff}");
            Assert.InRange(downtime, TimeSpan.Zero, Long);
        }
        finally
        {
            if (target != null) await target.DisposeAsync();
        }
    }

    [Fact(Timeout = 240_000)]
    public async Task A_relay_whose_guest_cannot_be_started_at_the_second_host_is_kept_there()
    {
        await using QemuGuest source = await RealGuestFixture.StartGuestAsync("relay-keep", RamBytes);
        using var hostB = new StoreTestHost();
        using var hostA = new StoreTestHost();
        using QemuVmStore storeB = hostB.Open(folder: false);
        using QemuVmStore storeA = hostA.Open(folder: false);
        var bOptions = new QemuStoreListenerOptions { ResumeGuest = (_, ram) => RealGuestFixture.Options("relay-small", ram / 2) };
        await using (QemuStoreListener b = QemuStoreListener.Start(storeB, IPAddress.Loopback, 0, options: bOptions))
        await using (QemuStoreListener a = QemuStoreListener.Start(storeA, IPAddress.Loopback, 0, () => "kept", new QemuStoreListenerOptions { RelayTo = ("127.0.0.1", b.Port) }))
        {
            await source.Qmp.MigrateAsync($"tcp:127.0.0.1:{a.Port}", Cancel);
            StoreArrival atA = await a.NextAsync(Long, Cancel);
            Assert.Equal(QemuError.RelayFailed, Assert.IsType<QemuException>(atA.Error).Error);
            StoreArrival atB = await b.NextAsync(Long, Cancel);
            QemuException kept = Assert.IsType<QemuException>(atB.Error);
            Assert.Equal(QemuError.RelayFailed, kept.Error);
            Assert.Contains("MiB", kept.Message, StringComparison.Ordinal);
            Assert.Null(atB.Guest);
        }
        Assert.Equal("kept", Assert.Single(storeB.List()).Name);
        Assert.Empty(RunDirectory.FindGuests("relay-small"));
        Assert.Empty(hostA.Gmm.Vms);
    }

    [Fact(Timeout = 300_000)]
    public async Task A_listener_told_to_resume_here_runs_the_relayed_guest_until_it_ends()
    {
        await using QemuGuest source = await RealGuestFixture.StartGuestAsync("relay-cli-src", RamBytes);
        GuestKernel kernel = QemuPrerequisites.Get().Kernel;
        string ready = Path.Combine(Path.GetTempPath(), $"gmm-relay-cli-{Environment.ProcessId}.port");
        using GmmCommand b = GmmCommand.Start("qemu", "store", "listen", "--port", "0", "--resume-here", "--ready-file", ready, "--json",
            "--kernel", kernel.KernelPath, "--modules", kernel.ModulesDirectory!);
        try
        {
            for (int i = 0; i < 1200 && !File.Exists(ready); i++)
            {
                Assert.False(b.Output.Contains("gmm:", StringComparison.Ordinal), b.Output);
                await Task.Delay(100, Cancel);
            }
            int port = int.Parse(await File.ReadAllTextAsync(ready, Cancel), System.Globalization.CultureInfo.InvariantCulture);
            using var hostA = new StoreTestHost();
            using QemuVmStore storeA = hostA.Open(folder: false);
            await using (QemuStoreListener a = QemuStoreListener.Start(storeA, IPAddress.Loopback, 0, () => "relay-cli", new QemuStoreListenerOptions { RelayTo = ("127.0.0.1", port) }))
            {
                await source.Qmp.MigrateAsync($"tcp:127.0.0.1:{a.Port}", Cancel);
                StoreArrival atA = await a.NextAsync(Long, Cancel);
                Assert.True(atA.Error == null, $"{atA.Error}\n{b.Output}");
                Assert.Equal("resumed as guest relay-cli", atA.Relayed!.TargetOutcome);
            }
            await b.WaitForOutputAsync("relay-cli", 60);
            GuestRecord running = Assert.Single(RunDirectory.FindGuests("relay-cli"));
            Assert.Equal(b.Pid, running.OwnerPid);
            Assert.True(ProcessInfo.IsAlive(running.QemuPid), "the relayed guest's QEMU runs in the listener's care");
            b.Signal(2);
            Assert.Equal(130, b.WaitForExit(TimeSpan.FromMinutes(1)));
            Assert.False(ProcessInfo.IsAlive(running.QemuPid), "the guest ended with the listener");
        }
        finally
        {
            File.Delete(ready);
        }
    }

    [Fact(Timeout = 240_000)]
    public async Task Peers_that_only_begin_relays_start_at_most_a_few_guests_and_none_outlives_them()
    {
        using var host = new StoreTestHost();
        using QemuVmStore store = host.Open(folder: false);
        var layout = new QemuVmState
        {
            Machine = "pc-i440fx-7.2", Configuration = [], Ram = new RamSectionHeader(2, 0, 4), Blocks = [new RamBlock("ram0", RamBytes)], Devices = [], Description = [],
        };
        int Flooding() => RunDirectory.FindGuests().Count(g => g.Name.StartsWith("flood-", StringComparison.Ordinal));
        var peers = new List<System.Net.Sockets.TcpClient>();
        try
        {
            await using (QemuStoreListener b = QemuStoreListener.Start(store, IPAddress.Loopback, 0, options: new QemuStoreListenerOptions { ResumeGuest = (name, ram) => RealGuestFixture.Options(name, ram) }))
            {
                for (int i = 0; i < QemuVmStore.MaxGuestStarts + 2; i++)
                {
                    var peer = new System.Net.Sockets.TcpClient();
                    peers.Add(peer);
                    await peer.ConnectAsync(IPAddress.Loopback, b.Port, Cancel);
                    QemuVmStore.WritePreamble(peer.GetStream(), QemuVmStore.RelayMagic, $"flood-{i}", layout); // then nothing: each waits for its VM
                }
                for (int i = 0; i < 600 && Flooding() < QemuVmStore.MaxGuestStarts; i++) await Task.Delay(100, Cancel);
                await Task.Delay(2000, Cancel); // time for any further start
                Assert.Equal(QemuVmStore.MaxGuestStarts, Flooding());
            }
            Assert.Equal(0, Flooding()); // the listener's stop ended every relay and its guest
            Assert.Empty(store.List());
        }
        finally
        {
            foreach (var peer in peers) peer.Dispose();
        }
    }

    /// <summary>When the target started running the guest: its RESUME event (QEMU's client queues every event, so one that came before is found).</summary>
    private static async Task<DateTimeOffset> ResumedAsync(QemuGuest target)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Cancel);
        deadline.CancelAfter(Long);
        await foreach (QmpEvent e in target.Qmp.ReadEventsAsync(deadline.Token))
            if (e.Name == "RESUME" && e.Timestamp is DateTimeOffset t) return t;
        throw new InvalidOperationException("the target never resumed");
    }

    [Fact(Timeout = 240_000)]
    public async Task A_relay_whose_second_host_is_gone_fails_the_migration_and_the_guest_runs_on_at_the_source()
    {
        await using QemuGuest source = await RealGuestFixture.StartGuestAsync("relay-gone", RamBytes);
        using var hostA = new StoreTestHost();
        using QemuVmStore storeA = hostA.Open(folder: false);
        int nobody = StoreGuests.FreePort();
        await using (QemuStoreListener a = QemuStoreListener.Start(storeA, IPAddress.Loopback, 0, options: new QemuStoreListenerOptions { RelayTo = ("127.0.0.1", nobody) }))
        {
            await source.Qmp.MigrateAsync($"tcp:127.0.0.1:{a.Port}", Cancel);
            StoreArrival arrival = await a.NextAsync(Long, Cancel);
            Assert.Equal(QemuError.HostResourceFailed, Assert.IsType<QemuException>(arrival.Error).Error);
        }
        Assert.Equal("failed", (await source.Qmp.WaitForMigrationAsync(Long, Cancel)).Status);
        Assert.True((await source.Qmp.QueryStatusAsync(Cancel)).Running, "the guest runs on at the source");
        long before = await source.RequireShell().HeartbeatAsync(Cancel);
        await Task.Delay(TimeSpan.FromSeconds(2), Cancel);
        Assert.True(await source.RequireShell().HeartbeatAsync(Cancel) > before);
        Assert.Empty(hostA.Gmm.Vms);
    }
}
