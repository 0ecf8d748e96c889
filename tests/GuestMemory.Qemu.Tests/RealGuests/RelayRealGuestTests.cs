using System.Net;
using GuestMemory.Qemu.Tests.Support;

namespace GuestMemory.Qemu.Tests.RealGuests;

/// <summary>
/// The live path: a running guest migrates from its QEMU to GuestMemory host A, which relays it while it
/// arrives to GuestMemory host B with GuestMemory's own protocol, which resumes it into a QEMU waiting with
/// <c>-incoming</c>. The guest runs at the source until QEMU's final pass, runs on at the target with its
/// files and its heartbeat, and neither host keeps anything of it; the downtime (QMP STOP at the source to
/// RESUME at the target) is measured.
/// </summary>
public sealed class RelayRealGuestTests(ITestOutputHelper output)
{
    private const long RamBytes = 128L << 20;
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(2);
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact(Timeout = 300_000)]
    public async Task A_running_guest_relayed_through_two_hosts_runs_on_in_the_target_QEMU()
    {
        await using QemuGuest source = await RealGuestFixture.StartGuestAsync("relay-src", RamBytes);
        GuestShell shell = source.RequireShell();
        await shell.FillAsync("known", 4, FillKind.Text, "relay", cancel: Cancel);
        long heartbeatBefore = await shell.HeartbeatAsync(Cancel);
        (QemuGuest target, int targetPort) = await StoreGuests.StartTargetAsync("relay-dst", RamBytes, paused: false);
        await using (target)
        {
            DateTimeOffset? stopped = null, resumed = null;
            source.Qmp.EventReceived += e => { if (e.Name == "STOP") stopped ??= e.Timestamp; };
            target.Qmp.EventReceived += e => { if (e.Name == "RESUME") resumed ??= e.Timestamp; };

            using var hostB = new StoreTestHost();
            using var hostA = new StoreTestHost();
            using (QemuVmStore storeB = hostB.Open(folder: false))
            using (QemuVmStore storeA = hostA.Open(folder: false))
            await using (QemuStoreListener b = QemuStoreListener.Start(storeB, IPAddress.Loopback, 0, options: new QemuStoreListenerOptions { ResumeTo = ("127.0.0.1", targetPort) }))
            await using (QemuStoreListener a = QemuStoreListener.Start(storeA, IPAddress.Loopback, 0, () => "relayed", new QemuStoreListenerOptions { RelayTo = ("127.0.0.1", b.Port) }))
            {
                Assert.Equal("running", (await source.Qmp.QueryStatusAsync(Cancel)).Status);
                await source.Qmp.MigrateAsync($"tcp:127.0.0.1:{a.Port}", Cancel);
                StoreArrival atA = await a.NextAsync(Long, Cancel);
                Assert.Null(atA.Error);
                StoreArrival atB = await b.NextAsync(Long, Cancel);
                Assert.Null(atB.Error);
                Assert.Equal("completed", (await source.Qmp.WaitForMigrationAsync(Long, Cancel)).Status);
                Assert.Equal($"resumed at 127.0.0.1:{targetPort}", atA.Relayed!.TargetOutcome);
                Assert.NotNull(atB.Resumed);
                Assert.Null(atB.Stored);
                Assert.Empty(storeA.List());
                Assert.Empty(storeB.List());
                Assert.True(atA.Relayed.Move.Passes.Count >= 2, "pre-copy passes while the guest ran, then the final pass");
                Assert.True(atA.Relayed.Move.BytesSent < atA.Relayed.QemuBytes, $"the relay sent {atA.Relayed.Move.BytesSent} bytes for QEMU's {atA.Relayed.QemuBytes}");
            }
            Assert.Empty(hostA.Gmm.Vms);
            Assert.Empty(hostB.Gmm.Vms);

            GuestShell moved = target.RequireShell();
            long heartbeatAfter = await moved.HeartbeatAsync(Cancel);
            Assert.True(heartbeatAfter >= heartbeatBefore, $"the heartbeat went on from {heartbeatBefore}, not back to {heartbeatAfter}");
            Assert.Equal("4194304", (await moved.ShellAsync("wc -c < /tmp/w/known", cancel: Cancel)).Lines.Single().Trim());
            Assert.Equal("running", (await target.Qmp.QueryStatusAsync(Cancel)).Status);
            Assert.NotNull(stopped);
            Assert.NotNull(resumed);
            TimeSpan downtime = resumed.Value - stopped.Value;
            output.WriteLine($"downtime (source STOP to target RESUME): {downtime.TotalMilliseconds:0} ms");
            Assert.InRange(downtime, TimeSpan.Zero, Long);
        }
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
