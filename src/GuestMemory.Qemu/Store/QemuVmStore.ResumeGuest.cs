using System.Diagnostics;

namespace GuestMemory.Qemu;

/// <summary>A stored VM resumed into a QEMU this process started (<see cref="QemuVmStore.ResumeGuestAsync"/>).</summary>
/// <param name="Guest">The guest, paused or running as its options said; the caller owns it (and its RAM).</param>
/// <param name="Report">What the resume sent through the stream (the main RAM went into the guest's RAM directly) and how long it took from the start of its QEMU.</param>
public sealed record ResumedGuest(QemuGuest Guest, ResumeReport Report);

public sealed partial class QemuVmStore
{
    /// <summary>
    /// Starts a QEMU for stored VM <paramref name="name"/> as <see cref="QemuGuest.StartAsync"/> starts a guest
    /// with <paramref name="options"/> (the stored VM's RAM size and the devices of the QEMU it came from; the
    /// method sets <see cref="GuestOptions.Incoming"/> to the guest's own socket) and resumes the VM in it. The
    /// guest's RAM is a memfd this process owns (<see cref="GuestRamBacking.Memfd"/>, the default), so the VM's
    /// main RAM is written into it directly — zero pages stay holes that cost the host nothing — while the
    /// stream QEMU loads carries only the BIOS, ROM and video blocks and the device state; with anonymous RAM
    /// everything goes through the stream. The pages are decompressed while QEMU starts and written once it
    /// is up (what it puts into its RAM while it starts is replaced). The guest runs on where it stopped when
    /// its options do not pass <c>-S</c>. The stored VM stays in the store.
    /// </summary>
    /// <exception cref="QemuException"><see cref="QemuError.StoredVmNotFound"/>; <see cref="QemuError.InvalidArgument"/> when the options set
    /// <see cref="GuestOptions.Incoming"/> or their RAM size is not the VM's main RAM block, or the VM's main block is not a memory backend's
    /// (<c>ram0</c>, as GuestMemory's guests have); <see cref="QemuError.ResumeRefused"/> (other devices: QEMU's own words say which);
    /// what <see cref="QemuGuest.StartAsync"/> throws; <see cref="QemuError.Timeout"/> (<see cref="GuestOptions.BootTimeout"/>); <see cref="QemuError.StoreCorrupt"/>.
    /// Nothing it started is left running on failure.</exception>
    /// <exception cref="ObjectDisposedException">The store was disposed before or while a resident VM was sent.</exception>
    public async Task<ResumedGuest> ResumeGuestAsync(string name, GuestOptions options, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ObjectDisposedException.ThrowIf(_disposed, this);
        StoredVm stored = Acquire(name);
        try
        {
            var clock = Stopwatch.StartNew();
            await using GuestTarget target = GuestTarget.Start(name, stored.State, options, cancel);
            using FrameFeed? feed = stored.Vm == null ? new FrameFeed(stored.Refs!, SegmentByNumber) : null;
            return await target.ResumeAsync(this, stored, feed, clock, cancel).ConfigureAwait(false);
        }
        finally
        {
            Release(stored);
        }
    }
}
