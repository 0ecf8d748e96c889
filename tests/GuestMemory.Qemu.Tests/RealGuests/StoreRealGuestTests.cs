using System.Net;
using GuestMemory.Gmm;
using GuestMemory.Migration;
using GuestMemory.Qemu.Tests.Store;
using GuestMemory.Qemu.Tests.Support;

namespace GuestMemory.Qemu.Tests.RealGuests;

/// <summary>
/// A real guest's whole way through GuestMemory as QEMU's migration peer: migrated by QEMU into a store
/// over TCP, the store's process restarted (a new Gmm on the same folder), moved to a second store with
/// GuestMemory's own protocol, refused by a QEMU of another RAM size, then resumed into a new QEMU: the
/// resumed guest's RAM is, page for page, what the store holds, and once continued its heartbeat counts on
/// from where it stopped.
/// </summary>
public sealed class StoreRealGuestTests
{
    private const long RamBytes = 128L << 20;
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(2);
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact(Timeout = 420_000)]
    public async Task A_guest_stored_restarted_moved_and_resumed_runs_on_with_the_RAM_it_was_stored_with()
    {
        await using QemuGuest source = await RealGuestFixture.StartGuestAsync("store-src", RamBytes);
        GuestShell shell = source.RequireShell();
        await shell.FillAsync("known", 4, FillKind.Text, "issue17", cancel: Cancel);
        long heartbeatBefore = await shell.HeartbeatAsync(Cancel);

        using var first = new StoreTestHost();
        using (QemuVmStore store = first.Open(folder: true))
        {
            StoreArrival arrival = await StoreGuests.MigrateIntoAsync(source, store, "guest");
            Assert.False(arrival.Stored!.Resident);
            Assert.True(arrival.Stored.GuestRamBytes > RamBytes, "pc.ram and the BIOS and ROM blocks");
        }
        source.Kill();

        using var restarted = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = 512L << 20 });
        using var second = new StoreTestHost();
        try
        {
            using QemuVmStore again = QemuVmStore.Open(restarted, new QemuStoreOptions { Directory = first.Folder });
            Assert.Equal("guest", Assert.Single(again.List()).Name);
            using QemuVmStore other = second.Open(folder: false);
            await using QemuStoreListener otherListener = QemuStoreListener.Start(other, IPAddress.Loopback, 0);
            MoveReport move = await again.MoveAsync("guest", "127.0.0.1", otherListener.Port, Cancel);
            StoreArrival moved = await otherListener.NextAsync(Long, Cancel);
            Assert.Null(moved.Error);
            Assert.Empty(again.List());
            Assert.True(move.BytesSent < RamBytes, "zero pages crossed as runs, not pages");

            (QemuGuest wrong, int wrongPort) = await StoreGuests.StartTargetAsync("store-wrong", 96L << 20, paused: true);
            await using (wrong)
            {
                QemuException refused = await Assert.ThrowsAsync<QemuException>(() => other.ResumeAsync("guest", "127.0.0.1", wrongPort, Long, Cancel));
                Assert.Equal(QemuError.ResumeRefused, refused.Error);
            }

            (QemuGuest target, int port) = await StoreGuests.StartTargetAsync("store-dst", RamBytes, paused: true);
            await using (target)
            {
                await other.ResumeAsync("guest", "127.0.0.1", port, Long, Cancel);
                FinalPages stored = FinalPages.Of(StoreRoundTripTests.Written(other, "guest"));
                Dictionary<long, string> resumed = StoreGuests.RamPages(target.Ram!);
                foreach ((long offset, string hash) in resumed) Assert.Equal(stored.Pages[("ram0", offset)], hash); // guest RAM from the memory backend ram0 is the block ram0

                await target.Qmp.ContAsync(Cancel);
                long heartbeatAfter = await target.RequireShell().HeartbeatAsync(Cancel);
                Assert.True(heartbeatAfter >= heartbeatBefore, $"the heartbeat went on from {heartbeatBefore}, not back to {heartbeatAfter}");
                Assert.Equal(QemuRunStateRunning, (await target.Qmp.QueryStatusAsync(Cancel)).Status);
            }
        }
        finally
        {
            restarted.Verify();
        }
    }

    private const string QemuRunStateRunning = "running";
}

/// <summary>
/// What QEMU sends that the store does not take is refused by name and QEMU's source keeps running;
/// a migration cancelled halfway leaves nothing in the store. A refused capability is tried on a guest
/// of its own: after a refused postcopy-ram migration QEMU 7.2 still reported a migration in progress on
/// that guest, so a shared guest failed the next case (seen in CI). The cancelled migration runs on the
/// shared fixture guest A, whose migration settings are put back afterwards.
/// </summary>
[Collection(RealGuestCollection.Name)]
public sealed class StoreRefusalTests(RealGuestFixture guests)
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(2);
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Theory(Timeout = 240_000)]
    [InlineData("compress", "compress")]
    [InlineData("postcopy-ram", "postcopy-ram")]
    public async Task A_stream_with_an_unsupported_capability_is_refused_by_name_and_the_source_runs_on(string capability, string named)
    {
        await using QemuGuest g = await RealGuestFixture.StartGuestAsync($"refuse-{capability}", 128L << 20);
        using var host = new StoreTestHost();
        using QemuVmStore store = host.Open(folder: false);
        await using QemuStoreListener listener = QemuStoreListener.Start(store, IPAddress.Loopback, 0);
        await g.Qmp.SetMigrationCapabilityAsync(capability, true, Cancel);
        try
        {
            await g.Qmp.MigrateAsync($"tcp:127.0.0.1:{listener.Port}", Cancel);
            StoreArrival arrival = await listener.NextAsync(Long, Cancel);
            QemuException error = Assert.IsType<QemuException>(arrival.Error);
            Assert.Equal(QemuError.StreamUnsupported, error.Error);
            Assert.Contains(named, error.Message, StringComparison.Ordinal);
            Assert.NotEqual("completed", (await g.Qmp.WaitForMigrationAsync(Long, Cancel)).Status);
        }
        finally
        {
            await g.Qmp.SetMigrationCapabilityAsync(capability, false, Cancel);
        }
        Assert.True((await g.Qmp.QueryStatusAsync(Cancel)).Running);
        await g.RequireShell().PingAsync(cancel: Cancel);
        Assert.Empty(store.List());
        Assert.Equal(0, host.Gmm.Statistics.AllocatedPages);
    }

    [Fact(Timeout = 240_000)]
    public async Task A_migration_cancelled_halfway_leaves_nothing_in_the_store_and_the_guest_runs_on()
    {
        // Guest A: after a postcopy-ram migration was refused, QEMU 7.2 kept opening a return path on guest B's
        // next migration although the capability was off again (seen here), which the store refuses by name.
        QemuGuest g = guests.A;
        using var host = new StoreTestHost();
        using QemuVmStore store = host.Open(folder: true);
        await using QemuStoreListener listener = QemuStoreListener.Start(store, IPAddress.Loopback, 0);
        await g.Qmp.SetMigrationParameterAsync("max-bandwidth", 4L << 20, Cancel);
        try
        {
            await g.Qmp.MigrateAsync($"tcp:127.0.0.1:{listener.Port}", Cancel);
            QemuMigrationStatus status;
            while ((status = await g.Qmp.QueryMigrateAsync(Cancel)).TransferredBytes < 2L << 20)
            {
                if (status.Ended)
                {
                    StoreArrival early = await listener.NextAsync(Long, Cancel);
                    Assert.Fail($"the migration ended before it was cancelled: {status.Status} {status.Error}; the store: {early.Error?.Message}");
                }
                await Task.Delay(50, Cancel);
            }
            await g.Qmp.MigrateCancelAsync(Cancel);
            StoreArrival arrival = await listener.NextAsync(Long, Cancel);
            Assert.Equal(QemuError.StreamTruncated, Assert.IsType<QemuException>(arrival.Error).Error);
        }
        finally
        {
            await g.Qmp.SetMigrationParameterAsync("max-bandwidth", 128L << 20, Cancel);
        }
        Assert.Equal("cancelled", (await g.Qmp.WaitForMigrationAsync(Long, Cancel)).Status);
        Assert.True((await g.Qmp.QueryStatusAsync(Cancel)).Running);
        Assert.Empty(store.List());
        Assert.Equal(0, host.Gmm.Statistics.AllocatedPages);
        Assert.DoesNotContain(Directory.GetFiles(host.Folder), f => f.EndsWith(".gqp", StringComparison.Ordinal) || f.EndsWith(".gqvm", StringComparison.Ordinal));
    }
}
