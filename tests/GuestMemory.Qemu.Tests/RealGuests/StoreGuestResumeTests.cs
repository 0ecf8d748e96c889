using GuestMemory.Qemu.Tests.Store;
using GuestMemory.Qemu.Tests.Support;

namespace GuestMemory.Qemu.Tests.RealGuests;

/// <summary>
/// A stored real guest resumed into a guest the store starts itself (<see cref="QemuVmStore.ResumeGuestAsync"/>):
/// its main RAM goes straight into the new guest's memfd, from the page files and from a resident copy (and, for a guest on anonymous RAM, through the stream). The
/// resumed RAM is, page for page, what the store holds; the memfd holds exactly the pages with content (zero
/// pages stay holes, but for the few QEMU reads while it loads the devices); once
/// continued the guest's heartbeat counts on from where it stopped. <c>gmm qemu resume --run</c> does the same.
/// </summary>
public sealed class StoreGuestResumeTests
{
    private const long RamBytes = 128L << 20;
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact(Timeout = 420_000)]
    public async Task A_stored_guest_resumed_into_a_guest_of_the_stores_own_runs_on_with_its_RAM_and_no_zero_page_resident()
    {
        await using QemuGuest source = await RealGuestFixture.StartGuestAsync("rg-src", RamBytes);
        GuestShell shell = source.RequireShell();
        await shell.FillAsync("known", 4, FillKind.Text, "issue17", cancel: Cancel);
        string sum = (await shell.ShellAsync("md5sum /tmp/w/known", cancel: Cancel)).Text;
        long heartbeatBefore = await shell.HeartbeatAsync(Cancel);

        using var files = new StoreTestHost();
        using var memory = new StoreTestHost();
        using QemuVmStore onDisk = files.Open(folder: true);
        await StoreGuests.MigrateIntoAsync(source, onDisk, "guest");
        source.Kill();
        byte[] written = StoreRoundTripTests.Written(onDisk, "guest");
        using QemuVmStore resident = memory.Open(folder: false);
        resident.Receive(new MemoryStream(written), "guest");
        FinalPages stored = FinalPages.Of(written);
        long mainPagesWithContent = stored.Pages.Count(p => p.Key.Block == "ram0" && p.Value != FinalPages.ZeroHash);

        foreach ((QemuVmStore store, string how, GuestRamBacking backing) in new[] { (onDisk, "files", GuestRamBacking.Memfd), (resident, "resident", GuestRamBacking.Memfd), (onDisk, "anonymous", GuestRamBacking.Anonymous) })
        {
            GuestOptions options = RealGuestFixture.Options($"rg-{how}", RamBytes) with { ExtraArguments = ["-S"], RamBacking = backing };
            ResumedGuest resumed = await store.ResumeGuestAsync("guest", options, Cancel);
            await using QemuGuest target = resumed.Guest;
            if (backing == GuestRamBacking.Anonymous)
                Assert.True(resumed.Report.BytesSent > mainPagesWithContent * QemuStreamFormat.PageSize, $"{how}: RAM this process does not own goes through the stream");
            else
            {
                Assert.True(resumed.Report.BytesSent < RamBytes / 4, $"{how}: the main RAM went into the memfd, not the stream ({resumed.Report.BytesSent} bytes sent)");
                // QEMU's load of the device state reads a few zero pages of guest RAM (virtio queues' indexes; a read
                // of a hole in shared memory allocates it): 3 pages of a 128 MiB guest were seen.
                long residentPages = target.Ram!.ResidentPages;
                Assert.InRange(residentPages, mainPagesWithContent, mainPagesWithContent + 64);
                foreach ((long offset, string hash) in StoreGuests.RamPages(target.Ram))
                    Assert.True(stored.Pages[("ram0", offset)] == hash, $"{how}: page at {offset:x} differs from the stored one");
            }

            await target.Qmp.ContAsync(Cancel);
            long heartbeatAfter = await target.RequireShell().HeartbeatAsync(Cancel);
            Assert.True(heartbeatAfter >= heartbeatBefore, $"{how}: the heartbeat went on from {heartbeatBefore}, not back to {heartbeatAfter}");
            Assert.Equal(sum, (await target.RequireShell().ShellAsync("md5sum /tmp/w/known", cancel: Cancel)).Text);
        }
        Assert.Single(onDisk.List());

        // A guest without the source's balloon device: its QEMU refuses the stream and says which device.
        QemuException refused = await Assert.ThrowsAsync<QemuException>(() => onDisk.ResumeGuestAsync("guest", RealGuestFixture.Options("rg-nodev", RamBytes) with { Balloon = null }, Cancel));
        Assert.Equal(QemuError.ResumeRefused, refused.Error);
        Assert.Contains("balloon", refused.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Empty(RunDirectory.FindGuests("rg-nodev"));

        // The resident store disposed while its VM is being resumed: the resume ends with ObjectDisposedException
        // (the VM's pages went with the store) and its guest is ended.
        Task<ResumedGuest> racing = resident.ResumeGuestAsync("guest", RealGuestFixture.Options("rg-race", RamBytes), Cancel);
        resident.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => racing);
        Assert.Empty(RunDirectory.FindGuests("rg-race"));

        // The same from the command line, beside this process's open store (a resume only reads the folder).
        GuestKernel kernel = QemuPrerequisites.Get().Kernel;
        (int exit, string output) = GmmCommand.Run("qemu", "resume", "guest", "--dir", files.Folder, "--run", "--name", "rg-cli", "--duration", "1", "--json",
            "--kernel", kernel.KernelPath, "--modules", kernel.ModulesDirectory!);
        Assert.True(exit == 0, output);
        Assert.Contains("\"guest\": \"rg-cli\"", output.Replace("\":\"", "\": \""));
        Assert.Empty(RunDirectory.FindGuests("rg-cli"));
    }

    [Fact(Timeout = 120_000)]
    public async Task Options_that_cannot_hold_the_stored_guest_are_refused_before_any_QEMU_starts()
    {
        using var host = new StoreTestHost();
        using QemuVmStore store = host.Open(folder: false);
        store.Receive(new MemoryStream(RecordedStream.Get()), "bios");
        GuestOptions options = RealGuestFixture.Options("rg-refused", RamBytes);

        QemuException withIncoming = await Assert.ThrowsAsync<QemuException>(() => store.ResumeGuestAsync("bios", options with { Incoming = "tcp:127.0.0.1:1" }, Cancel));
        Assert.Equal(QemuError.InvalidArgument, withIncoming.Error);
        QemuException missing = await Assert.ThrowsAsync<QemuException>(() => store.ResumeGuestAsync("nobody", options, Cancel));
        Assert.Equal(QemuError.StoredVmNotFound, missing.Error);
        QemuException otherRam = await Assert.ThrowsAsync<QemuException>(() => store.ResumeGuestAsync("bios", options, Cancel));
        Assert.Equal(QemuError.InvalidArgument, otherRam.Error);
        Assert.Contains("ram0", otherRam.Message, StringComparison.Ordinal);
        Assert.Empty(RunDirectory.FindGuests("rg-refused"));
        Assert.Single(store.List());
    }
}
