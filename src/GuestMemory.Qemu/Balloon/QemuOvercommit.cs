using GuestMemory.Balloon;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace GuestMemory.Qemu;

/// <summary>
/// Over-commit of real QEMU guests on one host: a <see cref="GuestBalloonController"/> that holds the
/// guests' resident RAM (their memfds' resident pages) under a budget by driving each guest's
/// virtio-balloon over QMP (<see cref="QemuBalloonDriver"/>), with the core's policy (idle tax, shares,
/// minimum and maximum). See docs/qemu-balloon.md.
/// </summary>
/// <remarks>
/// <para><b>One guest's failure stays its own.</b> A guest without a balloon driver is reported (its
/// driver's <see cref="QemuBalloonDriver.Fault"/>, a warning in the log) and left alone; a guest whose
/// QEMU ends is taken out of the controller and out of the resident sum at once, and the others go on.
/// No QMP call is made on the controller's thread (each driver's pump makes them).</para>
/// <para><b>Locking.</b> <c>_lock</c> guards the list of guests; it is held only to read or change it,
/// never while a driver, the controller or a logger is called.</para>
/// </remarks>
public sealed class QemuOvercommit : IAsyncDisposable
{
    private readonly Lock _lock = new();
    private readonly List<QemuBalloonGuest> _guests = [];
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _log;
    private int _disposed;

    /// <summary>
    /// A controller for <paramref name="options"/> (its <see cref="BalloonControllerOptions.HostBudgetBytes"/>
    /// is the budget for the guests' resident RAM; its <see cref="BalloonControllerOptions.ReadRssBytes"/> is
    /// replaced by <see cref="ResidentBytes"/>). Stopped until <see cref="Start"/>.
    /// </summary>
    /// <exception cref="GmmException"><see cref="GmmError.InvalidArgument"/> for bad options.</exception>
    public QemuOvercommit(BalloonControllerOptions options, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _loggers = loggerFactory ?? NullLoggerFactory.Instance;
        _log = _loggers.CreateLogger<QemuOvercommit>();
        Controller = new GuestBalloonController(options with { ReadRssBytes = ResidentBytes }, _loggers);
        Controller.Settled += (guest, waited) => QemuBalloonMetrics.Settled(guest.Name, waited);
    }

    /// <summary>The controller (its decisions, counters and <see cref="GuestBalloonController.Settled"/> event).</summary>
    public GuestBalloonController Controller { get; }

    /// <summary>The guests steered now (a guest whose QEMU ended is no longer here).</summary>
    public IReadOnlyList<QemuBalloonGuest> Guests { get { lock (_lock) return _guests.ToArray(); } }

    /// <summary>The resident bytes of the steered guests' RAM: what the budget limits.</summary>
    public long ResidentBytes() => Guests.Sum(g => g.ResidentBytes);

    /// <summary>
    /// Starts the balloon driver of <paramref name="guest"/> (statistics every second) and adds the guest to
    /// the controller under <paramref name="policy"/>. A guest whose balloon driver never reports is added
    /// all the same: it is reported and left alone until its driver reports.
    /// </summary>
    /// <exception cref="QemuException"><see cref="QemuError.InvalidArgument"/> for a policy that does not fit;
    /// <see cref="QemuError.BalloonUnavailable"/> for a guest started without a balloon device; QMP's errors.
    /// Nothing is added then.</exception>
    /// <exception cref="GmmException"><see cref="GmmError.InvalidArgument"/> for a guest name already steered.</exception>
    public async Task<QemuBalloonGuest> AddAsync(QemuGuest guest, QemuBalloonPolicy? policy = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(guest);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        policy ??= new QemuBalloonPolicy();
        policy.Validate(guest.Options.RamBytes);
        var driver = new QemuBalloonDriver(guest, policy.BufferBytes, _loggers.CreateLogger<QemuBalloonDriver>());
        try
        {
            await driver.StartAsync(cancel).ConfigureAwait(false);
            var steered = new QemuBalloonGuest(driver, policy);
            Controller.Add(steered);
            lock (_lock) _guests.Add(steered);
            driver.StatusChanged += () => CountFailure(steered);
            _ = WatchExitAsync(steered);
            return steered;
        }
        catch
        {
            await driver.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Starts the controller's background thread.</summary>
    public void Start() => Controller.Start();

    private void CountFailure(QemuBalloonGuest guest)
    {
        if (guest.QemuDriver.State is QemuBalloonState.Failed or QemuBalloonState.NoDriver) QemuBalloonMetrics.DriverFailed(guest.Name);
    }

    /// <summary>When the guest's QEMU ends: out of the controller and the resident sum, and the others go on.</summary>
    private async Task WatchExitAsync(QemuBalloonGuest guest)
    {
        int status = await guest.Qemu.Exited.ConfigureAwait(false);
        bool removed;
        lock (_lock) removed = _guests.Remove(guest);
        if (!removed) return;
        Controller.Remove(guest);
        await guest.QemuDriver.DisposeAsync().ConfigureAwait(false);
        _log.LogWarning("guest {Guest} ended (QEMU exit status {Status}); the controller goes on with the others", guest.Name, status);
        Controller.Wake();
    }

    /// <summary>Stops the controller and every driver (balloons stay as they are; the guests are the caller's).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        Controller.Dispose();
        QemuBalloonGuest[] guests;
        lock (_lock)
        {
            guests = _guests.ToArray();
            _guests.Clear();
        }
        foreach (QemuBalloonGuest g in guests) await g.QemuDriver.DisposeAsync().ConfigureAwait(false);
    }
}
