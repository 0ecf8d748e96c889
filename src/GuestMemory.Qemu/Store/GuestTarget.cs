using System.Diagnostics;
using System.Net.Sockets;

namespace GuestMemory.Qemu;

/// <summary>
/// A guest QEMU started for a resume (<see cref="QemuVmStore.ResumeGuestAsync"/>, a relay resumed on arrival): it
/// starts at once, waiting on a socket in its own folder (<see cref="GuestOptions.IncomingOwnSocket"/>),
/// while the caller gathers the VM; <see cref="ResumeAsync"/> then writes the VM's main RAM into the guest's
/// memfd and sends it the rest. Until a resume hands the guest over, <see cref="DisposeAsync"/> ends it.
/// Not thread-safe: one resume's.
/// </summary>
internal sealed class GuestTarget : IAsyncDisposable
{
    /// <summary>The RAM block of a guest whose RAM is a memory backend with id <c>ram0</c> (GuestMemory's guests).</summary>
    public const string MainBlockId = "ram0";

    private readonly GuestOptions _options;
    private readonly Task<QemuGuest> _starting;
    private bool _handedOver;

    private GuestTarget(GuestOptions options, CancellationToken cancel)
    {
        _options = options with { Incoming = GuestOptions.IncomingOwnSocket };
        _starting = QemuGuest.StartAsync(_options, cancel);
    }

    /// <summary>Checks that a guest of <paramref name="options"/> can take VM <paramref name="name"/> of <paramref name="state"/> and starts its QEMU.</summary>
    /// <exception cref="QemuException"><see cref="QemuError.InvalidArgument"/> (see <see cref="QemuVmStore.ResumeGuestAsync"/>).</exception>
    public static GuestTarget Start(string name, QemuVmState state, GuestOptions options, CancellationToken cancel)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Incoming != null) throw new QemuException(QemuError.InvalidArgument, "a guest resume sets the incoming URI itself: leave GuestOptions.Incoming unset");
        options.Validate();
        RamBlock main = state.Blocks[0];
        if (main.Id != MainBlockId || main.Length != options.RamBytes)
            throw new QemuException(QemuError.InvalidArgument, $"stored VM {name}'s main RAM is block {main.Id} of {main.Length >> 20} MiB; a guest resume needs block {MainBlockId} (a memory backend's, as GuestMemory's guests have) of the options' {options.RamBytes >> 20} MiB");
        return new GuestTarget(options, cancel);
    }

    /// <summary>
    /// Waits for the guest's QEMU, writes <paramref name="stored"/> into it (its main RAM into the memfd, the rest
    /// through the stream) and hands the guest over once it confirmed; a QEMU that refuses is reported with its own words.
    /// </summary>
    public async Task<ResumedGuest> ResumeAsync(QemuVmStore store, StoredVm stored, FrameFeed? feed, Stopwatch clock, CancellationToken cancel)
    {
        QemuGuest guest = await _starting.ConfigureAwait(false);
        string target = $"the QEMU of guest {_options.Name}";
        ResumeReport report;
        try
        {
            Socket socket = await QemuVmStore.ConnectAsync(new UnixDomainSocketEndPoint(guest.Paths.IncomingSocket), target, _options.BootTimeout, cancel).ConfigureAwait(false);
            MainRamWriter? mainRam = guest.Ram != null ? new MainRamWriter(guest.Ram, stored.State.Blocks[0].Length) : null;
            report = await store.SendAsync(stored, socket, target, feed, mainRam, _options.BootTimeout, clock, cancel).ConfigureAwait(false);
        }
        catch (QemuException e) when (e.Error == QemuError.ResumeRefused)
        {
            // This QEMU is ours: its own words say which device differs.
            try { await guest.Exited.WaitAsync(TimeSpan.FromSeconds(5), cancel).ConfigureAwait(false); }
            catch (TimeoutException) { /* it refused without exiting: what it said so far */ }
            throw new QemuException(QemuError.ResumeRefused, $"guest {_options.Name} did not take stored VM {stored.Name}: {guest.LastWords()}", e);
        }
        _handedOver = true;
        return new ResumedGuest(guest, report);
    }

    /// <summary>Ends the guest (and its folder, the socket with it) unless a resume handed it over.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_handedOver) return;
        try { await (await _starting.ConfigureAwait(false)).DisposeAsync().ConfigureAwait(false); }
        catch (Exception e) when (e is QemuException or OperationCanceledException) { /* it never started: StartAsync ended what it began */ }
    }
}
