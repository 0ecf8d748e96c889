using System.Diagnostics;
using System.Net.Sockets;

namespace GuestMemory.Qemu;

/// <summary>A stored VM resumed into a QEMU this process started (<see cref="QemuVmStore.ResumeGuestAsync"/>).</summary>
/// <param name="Guest">The guest, paused or running as its options said; the caller owns it (and its RAM).</param>
/// <param name="Report">What the resume sent through the stream (the main RAM went into the guest's RAM directly) and how long it took from the start of its QEMU.</param>
public sealed record ResumedGuest(QemuGuest Guest, ResumeReport Report);

public sealed partial class QemuVmStore
{
    /// <summary>
    /// Frames a guest resume decompresses ahead at most (256 MiB): as much of the VM as is ready while its
    /// QEMU starts, which is when the other core is free.
    /// </summary>
    private const int GuestResumeAhead = 32;

    /// <summary>
    /// Starts a QEMU for stored VM <paramref name="name"/> as <see cref="QemuGuest.StartAsync"/> starts a guest
    /// with <paramref name="options"/> (the stored VM's RAM size and the devices of the QEMU it came from; the
    /// method sets <see cref="GuestOptions.Incoming"/> to a socket of its own) and resumes the VM in it. The
    /// guest's RAM is a memfd this process owns (<see cref="GuestRamBacking.Memfd"/>, the default), so the VM's
    /// main RAM is written into it directly — zero pages stay holes that cost the host nothing — while the
    /// stream QEMU loads carries only the BIOS, ROM and video blocks and the device state; with anonymous RAM
    /// everything goes through the stream. The pages are decompressed while QEMU starts and written once it
    /// is up (what it puts into its RAM while it starts is replaced). The guest runs on where it stopped when
    /// its options do not pass <c>-S</c>. The stored VM stays in the store.
    /// </summary>
    /// <exception cref="QemuException"><see cref="QemuError.StoredVmNotFound"/>; <see cref="QemuError.InvalidArgument"/> when the options set
    /// <see cref="GuestOptions.Incoming"/> or their RAM size is not the VM's main RAM block, or the VM's main block is not a memory backend's
    /// (<c>ram0</c>, as GuestMemory's guests have); <see cref="QemuError.ResumeRefused"/> (other devices: QEMU's log says which);
    /// what <see cref="QemuGuest.StartAsync"/> throws; <see cref="QemuError.Timeout"/> (<see cref="GuestOptions.BootTimeout"/>); <see cref="QemuError.StoreCorrupt"/>.
    /// Nothing it started is left running on failure.</exception>
    /// <exception cref="ObjectDisposedException">The store was disposed before or while a resident VM was sent.</exception>
    public async Task<ResumedGuest> ResumeGuestAsync(string name, GuestOptions options, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Incoming != null) throw new QemuException(QemuError.InvalidArgument, "a guest resume sets the incoming URI itself: leave GuestOptions.Incoming unset");
        options.Validate();
        ObjectDisposedException.ThrowIf(_disposed, this);
        StoredVm stored = Acquire(name);
        string? folder = null;
        QemuGuest? guest = null;
        try
        {
            RamBlock main = stored.State.Blocks[0];
            if (main.Id != MainBlockId || main.Length != options.RamBytes)
                throw new QemuException(QemuError.InvalidArgument, $"stored VM {name}'s main RAM is block {main.Id} of {main.Length >> 20} MiB; a guest resume needs block {MainBlockId} (a memory backend's, as GuestMemory's guests have) of the options' {options.RamBytes >> 20} MiB");
            var clock = Stopwatch.StartNew();
            using FrameFeed? feed = stored.Vm == null ? new FrameFeed(stored.Refs!, SegmentByNumber, GuestResumeAhead) : null;
            folder = Directory.CreateTempSubdirectory("gmm-resume-").FullName;
            string socketPath = Path.Combine(folder, "incoming.sock");
            guest = await QemuGuest.StartAsync(options with { Incoming = $"unix:{socketPath}" }, cancel).ConfigureAwait(false);
            string target = $"the QEMU of guest {options.Name}";
            Socket socket = await ConnectAsync(new UnixDomainSocketEndPoint(socketPath), target, options.BootTimeout, cancel).ConfigureAwait(false);
            MainRamWriter? mainRam = guest.Ram != null ? new MainRamWriter(guest.Ram, main.Length) : null;
            ResumeReport report;
            try { report = await SendAsync(stored, socket, target, feed, mainRam, options.BootTimeout, clock, cancel).ConfigureAwait(false); }
            catch (QemuException e) when (e.Error == QemuError.ResumeRefused)
            {
                // This QEMU is ours: its own words say which device differs.
                try { await guest.Exited.WaitAsync(TimeSpan.FromSeconds(5), cancel).ConfigureAwait(false); }
                catch (TimeoutException) { /* it refused without exiting: what it said so far */ }
                throw new QemuException(QemuError.ResumeRefused, $"guest {options.Name} did not take stored VM {name}: {guest.LastWords()}", e);
            }
            var resumed = new ResumedGuest(guest, report);
            guest = null;
            return resumed;
        }
        finally
        {
            if (guest != null) await guest.DisposeAsync().ConfigureAwait(false);
            if (folder != null) TryDeleteFolder(folder);
            Release(stored);
        }
    }

    /// <summary>The RAM block of a guest whose RAM is a memory backend with id <c>ram0</c> (GuestMemory's guests).</summary>
    private const string MainBlockId = "ram0";

    private static void TryDeleteFolder(string folder)
    {
        try { Directory.Delete(folder, recursive: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* a temporary folder: the system's cleaning takes it */ }
    }
}
