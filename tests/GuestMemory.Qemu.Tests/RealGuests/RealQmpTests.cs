using System.Text.Json;
using GuestMemory.Qemu;
using GuestMemory.Qemu.Tests.Support;

namespace GuestMemory.Qemu.Tests.RealGuests;

/// <summary>The typed QMP client against a real QEMU: state, events, balloon, QOM and typed errors.</summary>
[Collection(RealGuestCollection.Name)]
public sealed class RealQmpTests(RealGuestFixture guests)
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact(Timeout = 120_000)]
    public async Task Stop_and_cont_change_the_state_and_raise_events()
    {
        QmpClient qmp = guests.A.Qmp;
        Assert.True(qmp.QemuVersion >= QemuBinary.MinimumVersion);
        Task<QmpEvent> stop = qmp.WaitForEventAsync("STOP", TimeSpan.FromSeconds(30), Cancel);
        await qmp.StopAsync(Cancel);
        Assert.Equal("STOP", (await stop).Name);
        Assert.Equal(new QemuRunState("paused", false), await qmp.QueryStatusAsync(Cancel));
        Task<QmpEvent> resume = qmp.WaitForEventAsync("RESUME", TimeSpan.FromSeconds(30), Cancel);
        await qmp.ContAsync(Cancel);
        Assert.NotNull((await resume).Timestamp);
        Assert.Equal(new QemuRunState("running", true), await qmp.QueryStatusAsync(Cancel));
    }

    [Fact(Timeout = 120_000)]
    public async Task The_balloon_inflates_and_deflates_and_the_guest_reports_statistics()
    {
        QmpClient qmp = guests.B.Qmp;
        long full = RealGuestFixture.RamBytes;
        Assert.Equal(full, await qmp.QueryBalloonAsync(Cancel));
        await qmp.BalloonAsync(full - (32L << 20), Cancel);
        await Until(async () => await qmp.QueryBalloonAsync(Cancel) == full - (32L << 20));
        await qmp.BalloonAsync(full, Cancel);
        await Until(async () => await qmp.QueryBalloonAsync(Cancel) == full);

        await qmp.SetBalloonStatsIntervalAsync(BalloonDevice.QomPath, 1, Cancel);
        BalloonGuestStats? stats = null;
        await Until(async () => (stats = await qmp.GetBalloonStatsAsync(BalloonDevice.QomPath, Cancel)).LastUpdate != null);
        Assert.InRange(stats!.TotalBytes ?? 0, full / 2, full);
        Assert.True(stats.FreeBytes > 0);
        JsonElement interval = await qmp.QomGetAsync(BalloonDevice.QomPath, "guest-stats-polling-interval", Cancel);
        Assert.Equal(1, interval.GetInt32());
        await qmp.SetBalloonStatsIntervalAsync(BalloonDevice.QomPath, 0, Cancel);
    }

    [Fact(Timeout = 60_000)]
    public async Task QEMU_errors_are_typed_with_their_class_and_the_connection_goes_on()
    {
        QmpClient qmp = guests.A.Qmp;
        QmpCommandException unknown = await Assert.ThrowsAsync<QmpCommandException>(() => qmp.ExecuteAsync("no-such-command", cancel: Cancel));
        Assert.Equal("CommandNotFound", unknown.ErrorClass);
        Assert.Equal(QemuError.QmpCommandFailed, unknown.Error);
        QmpCommandException bad = await Assert.ThrowsAsync<QmpCommandException>(() => qmp.QomGetAsync("/machine/peripheral/nothing", "x", Cancel));
        Assert.Equal("DeviceNotFound", bad.ErrorClass);
        Assert.True((await qmp.QueryStatusAsync(Cancel)).Running);
    }

    private static async Task Until(Func<Task<bool>> condition)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(60)) Assert.Fail("the guest did not get there within 60 s");
            await Task.Delay(100, Cancel);
        }
    }
}
