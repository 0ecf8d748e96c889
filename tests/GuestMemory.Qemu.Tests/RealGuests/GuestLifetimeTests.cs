using GuestMemory.Qemu;
using GuestMemory.Qemu.Tests.Support;

namespace GuestMemory.Qemu.Tests.RealGuests;

/// <summary>
/// Guests that die: a QEMU killed mid-run gives typed errors on every channel and leaves no process,
/// memfd or file; a guest whose kernel panics at boot fails its start with a typed error and its last
/// console lines. (In the real-guest collection so boots never run two at a time on top of the fixture.)
/// </summary>
[Collection(RealGuestCollection.Name)]
public sealed class GuestLifetimeTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact(Timeout = 180_000)]
    public async Task A_guest_killed_mid_run_fails_every_call_with_GuestDied_and_leaves_nothing_behind()
    {
        QemuGuest guest = await RealGuestFixture.StartGuestAsync("killed", 128L << 20);
        int pid = guest.Pid;
        string dir = guest.Paths.Directory;
        int fd = guest.Ram!.Fd;
        try
        {
            Task<GuestReply> running = guest.RequireShell().ShellAsync("sleep 60", cancel: Cancel); // pending when QEMU dies
            await Task.Delay(300, Cancel);
            Assert.Equal(0, QemuNative.Kill(pid, QemuNative.Sigkill)); // from outside, as an OOM killer or an operator would
            Assert.Equal(QemuError.GuestDied, (await Assert.ThrowsAsync<QemuException>(() => running)).Error);
            await guest.Exited.WaitAsync(TimeSpan.FromSeconds(30), Cancel);
            Assert.Equal(GuestState.Exited, guest.State);
            Assert.Equal(QemuError.GuestDied, (await Assert.ThrowsAsync<QemuException>(() => guest.Qmp.QueryStatusAsync(Cancel))).Error);
            QemuException later = await Assert.ThrowsAsync<QemuException>(() => guest.RequireShell().PingAsync(cancel: Cancel));
            Assert.Equal(QemuError.GuestDied, later.Error);
            Assert.Contains("SIGKILL", later.Message);
        }
        finally
        {
            await guest.DisposeAsync();
        }
        Assert.False(ProcessInfo.IsAlive(pid));
        Assert.False(Directory.Exists(dir));
        Assert.False(MemfdOpen(fd, "killed"));
        Assert.DoesNotContain(pid, ProcessLauncherPids());
    }

    [Fact(Timeout = 180_000)]
    public async Task A_guest_whose_kernel_panics_at_boot_fails_its_start_with_GuestDied_and_its_console()
    {
        GuestOptions options = RealGuestFixture.Options("panics", 128L << 20) with { KernelArguments = "rdinit=/no-such-init" };
        QemuException e = await Assert.ThrowsAsync<QemuException>(() => QemuGuest.StartAsync(options, Cancel));
        Assert.Equal(QemuError.GuestDied, e.Error);
        Assert.Contains("panic", e.Message, StringComparison.OrdinalIgnoreCase);
        Assert.False(Directory.Exists(Path.Combine(RunDirectory.Own, "panics")));
        Assert.False(MemfdOpen(-1, "panics"));
    }

    [Fact(Timeout = 180_000)]
    public async Task A_clean_shutdown_quits_QEMU_with_status_0()
    {
        await using QemuGuest guest = await RealGuestFixture.StartGuestAsync("quits", 128L << 20);
        await guest.ShutdownAsync(TimeSpan.FromSeconds(30), Cancel);
        Assert.Equal(0, await guest.Exited);
        Assert.Equal(GuestState.Exited, guest.State);
    }

    /// <summary>True when this process still has a memfd named gmm-NAME open (at <paramref name="fd"/>, or anywhere when -1).</summary>
    private static bool MemfdOpen(int fd, string name)
    {
        foreach (string link in Directory.GetFiles("/proc/self/fd"))
        {
            if (fd >= 0 && Path.GetFileName(link) != fd.ToString(System.Globalization.CultureInfo.InvariantCulture)) continue;
            string? target = null;
            try { target = new FileInfo(link).LinkTarget; }
            catch (IOException) { /* closed meanwhile */ }
            if (target != null && target.StartsWith($"/memfd:gmm-{name} ", StringComparison.Ordinal)) return true;
        }
        return false;
    }

    private static IReadOnlyCollection<int> ProcessLauncherPids() => ProcessLauncher.LivePids;
}
