using GuestMemory.Qemu;
using GuestMemory.Qemu.Tests.Support;

namespace GuestMemory.Qemu.Tests.RealGuests;

/// <summary>Booted guests answer on their command channel and run the workloads the issues need.</summary>
[Collection(RealGuestCollection.Name)]
public sealed class GuestChannelTests(RealGuestFixture guests)
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact(Timeout = 120_000)]
    public async Task A_booted_guest_is_running_with_its_modules_and_answers_commands()
    {
        QemuGuest g = guests.A;
        Assert.Equal(GuestState.Running, g.State);
        Assert.True(g.BootTime > TimeSpan.Zero && g.GuestUptimeAtReady > 0);
        GuestShell shell = g.RequireShell();
        await shell.PingAsync(cancel: Cancel);
        Assert.Equal("one two", await shell.EchoAsync(["one", "two"], Cancel));
        string modules = (await shell.ShellAsync("cat /proc/modules", cancel: Cancel)).Text;
        foreach (string m in new[] { "virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_pci", "virtio_balloon", "virtio_blk", "ext4" })
            Assert.Contains(m + " ", modules);
        GuestMemInfo info = await shell.MemInfoAsync(Cancel);
        Assert.InRange(info.TotalBytes, RealGuestFixture.RamBytes / 2, RealGuestFixture.RamBytes);
        Assert.True(info.FreeBytes > 0 && info.AvailableBytes > 0);
    }

    [Fact(Timeout = 120_000)]
    public async Task The_heartbeat_counts_on_and_shows_on_the_console()
    {
        GuestShell shell = guests.A.RequireShell();
        long first = await shell.HeartbeatAsync(Cancel);
        await shell.IdleAsync(2, Cancel);
        long second = await shell.HeartbeatAsync(Cancel);
        Assert.True(second > first, $"heartbeat {first} then {second}");
        Assert.Contains($"gmm-heartbeat {first}", await File.ReadAllTextAsync(guests.A.Paths.ConsoleLog, Cancel));
    }

    [Fact(Timeout = 180_000)]
    public async Task Workloads_fill_free_copy_and_drop_caches_move_the_guests_memory()
    {
        GuestShell shell = guests.B.RequireShell();
        long before = (await shell.MemInfoAsync(Cancel)).ShmemBytes;
        await shell.FillAsync("zero", 4, FillKind.Zero, cancel: Cancel);
        await shell.FillAsync("random", 4, FillKind.Random, cancel: Cancel);
        await shell.FillAsync("byte", 4, FillKind.Byte, "171", cancel: Cancel);
        await shell.CopyAsync("/lib/modules", "modules-copy", Cancel);
        long filled = (await shell.MemInfoAsync(Cancel)).ShmemBytes;
        Assert.True(filled - before >= 12L << 20, $"tmpfs grew by {(filled - before) >> 20} MiB only");
        Assert.Equal("ababab", (await shell.ShellAsync("head -c 3 /tmp/w/byte | hexdump -v -e '1/1 \"%02x\"'", cancel: Cancel)).Text.Trim()); // 171 = 0xab
        await shell.FreeAllAsync(Cancel);
        await shell.DropCachesAsync(Cancel);
        long freed = (await shell.MemInfoAsync(Cancel)).ShmemBytes;
        Assert.True(freed <= before + (1 << 20), $"tmpfs holds {freed >> 20} MiB after free-all (was {before >> 20})");
    }

    [Fact(Timeout = 120_000)]
    public async Task A_failing_command_reports_its_status_and_output_and_the_channel_goes_on()
    {
        GuestShell shell = guests.A.RequireShell();
        QemuException e = await Assert.ThrowsAsync<QemuException>(() => shell.ShellAsync("echo broken; exit 3", cancel: Cancel));
        Assert.Equal(QemuError.GuestCommandFailed, e.Error);
        Assert.Contains("broken", e.Message);
        GuestReply reply = await shell.ShellAsync("echo kept; exit 4", allowFailure: true, cancel: Cancel);
        Assert.Equal(4, reply.Status);
        Assert.Equal(["kept"], reply.Lines);
        Assert.Equal(QemuError.GuestCommandFailed, (await Assert.ThrowsAsync<QemuException>(() => shell.RunAsync("no-such-command", cancel: Cancel))).Error);
        Assert.Equal(QemuError.InvalidArgument, (await Assert.ThrowsAsync<QemuException>(() => shell.RunAsync("echo", ["two words"], cancel: Cancel))).Error);
        await shell.PingAsync(cancel: Cancel);
    }

    [Fact(Timeout = 120_000)]
    public async Task A_command_that_times_out_leaves_the_channel_usable()
    {
        GuestShell shell = guests.A.RequireShell();
        QemuException e = await Assert.ThrowsAsync<QemuException>(() => shell.ShellAsync("sleep 3", TimeSpan.FromMilliseconds(200), cancel: Cancel));
        Assert.Equal(QemuError.Timeout, e.Error);
        // The late reply of the sleep arrives first and is dropped; the echo's own reply is the answer.
        Assert.Equal("after", await shell.EchoAsync(["after"], Cancel));
    }
}
