using System.Diagnostics;
using GuestMemory.Balloon;
using Microsoft.Extensions.Logging;

namespace GuestMemory.Qemu;

/// <summary>Where a <see cref="QemuBalloonDriver"/> is.</summary>
public enum QemuBalloonState
{
    /// <summary>Started; the guest has not sent statistics yet (its driver may still be loading).</summary>
    Waiting,
    /// <summary>The guest's balloon driver reports: targets are posted and followed.</summary>
    Working,
    /// <summary>No statistics within <see cref="QemuBalloonDriver.DriverDeadline"/>, or no balloon device: the guest has no balloon (<see cref="QemuError.BalloonUnavailable"/>). Watched still, in case the driver loads.</summary>
    NoDriver,
    /// <summary>QMP is gone (QEMU ended, the connection broke): see <see cref="QemuBalloonDriver.Fault"/>. Final.</summary>
    Failed,
    /// <summary>Disposed. Final.</summary>
    Stopped,
}

/// <summary>
/// The balloon driver of one QEMU guest, behind the controller's driver contract (<see cref="IBalloonDriver"/>):
/// targets go to QEMU with QMP <c>balloon</c>, progress comes from <c>query-balloon</c>, the guest's own
/// view of its memory from the virtio-balloon statistics (<c>qom-get guest-stats</c>, polled by the guest
/// every second once <c>guest-stats-polling-interval</c> is set).
/// </summary>
/// <remarks>
/// <para><b>Why a pump.</b> The contract says <see cref="SetTarget"/> and <see cref="Status"/> return at
/// once, so the controller never waits on a guest: a task of this driver (the pump) does all QMP work, and
/// a hung or dead QEMU holds up only its own pump. While a target is on its way it polls
/// <c>query-balloon</c> every <see cref="FastPoll"/> (QEMU's <c>BALLOON_CHANGE</c> event is rate-limited
/// to one a second, too coarse to time a settle), else every <see cref="SlowPoll"/>.</para>
/// <para><b>Failures</b> are typed and the driver's own: QMP gone (<see cref="QemuError.GuestDied"/>,
/// <see cref="QemuError.QmpConnectionLost"/>) ends it in <see cref="QemuBalloonState.Failed"/> with
/// <see cref="Fault"/> set; a guest that never sends statistics is <see cref="QemuBalloonState.NoDriver"/>
/// (<see cref="QemuError.BalloonUnavailable"/>); a target the balloon stops short of for
/// <see cref="StuckAfter"/> is logged once per target (<see cref="QemuError.BalloonTargetNotReached"/>) and
/// counted in <see cref="TargetsNotReached"/>, and until the balloon moves again the guest reports no idle
/// memory, so the controller withdraws the rest of the target (the guest's statistics, a second old,
/// promised pages its kernel would not give: <c>stat-available-memory</c> counts cache the balloon's
/// no-retry allocations cannot always reclaim). Each is logged; <see cref="StatusChanged"/> is raised so the
/// controller looks again.</para>
/// <para><b>Locking.</b> <c>_lock</c> guards the target, the figures, the state and the counters; it is
/// held only to read or write them, never across QMP, a log call or an event. <see cref="StatusChanged"/>
/// is raised on the pump, holding nothing.</para>
/// </remarks>
public sealed class QemuBalloonDriver : IBalloonDriver, IAsyncDisposable
{
    /// <summary>How often <c>query-balloon</c> is polled while the balloon is away from its target.</summary>
    public static readonly TimeSpan FastPoll = TimeSpan.FromMilliseconds(10);
    /// <summary>How often it is polled while the balloon holds its target (statistics are read as often).</summary>
    public static readonly TimeSpan SlowPoll = TimeSpan.FromMilliseconds(250);
    /// <summary>How long a guest may take to send its first statistics before it counts as having no balloon driver.</summary>
    public static readonly TimeSpan DriverDeadline = TimeSpan.FromSeconds(10);
    /// <summary>
    /// How long the balloon may stand still short of its target before that is reported and the guest's
    /// idle memory is reported as none (Linux's driver retries a failed inflate every 200 ms).
    /// </summary>
    public static readonly TimeSpan StuckAfter = TimeSpan.FromSeconds(1);

    private readonly QemuGuest _guest;
    private readonly long _bufferBytes;
    private readonly ILogger _log;
    private readonly Lock _lock = new();
    private readonly SemaphoreSlim _wake = new(0);
    private readonly CancellationTokenSource _stop = new();
    private Task _pump = Task.CompletedTask;
    private long _target;
    private long _actualBytes;
    private long? _availableBytes;
    private QemuBalloonState _state = QemuBalloonState.Waiting;
    private QemuException? _fault;
    private long _targetsNotReached;
    private bool _stuck;

    /// <summary>A driver for <paramref name="guest"/> (which must have a balloon device); <see cref="StartAsync"/> starts it.</summary>
    /// <exception cref="QemuException"><see cref="QemuError.InvalidArgument"/> for a guest without a balloon device or a bad buffer.</exception>
    public QemuBalloonDriver(QemuGuest guest, long bufferBytes, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(guest);
        ArgumentNullException.ThrowIfNull(logger);
        if (guest.Options.Balloon == null) throw new QemuException(QemuError.BalloonUnavailable, $"guest {guest.Name} was started without a balloon device (GuestOptions.Balloon)");
        if (bufferBytes < 0 || bufferBytes > guest.Options.RamBytes) throw new QemuException(QemuError.InvalidArgument, $"a buffer of {bufferBytes} bytes does not fit guest {guest.Name}");
        _guest = guest;
        _bufferBytes = bufferBytes;
        _log = logger;
        RamPages = guest.Options.RamBytes >> Paging.PageShift;
        _actualBytes = guest.Options.RamBytes;
    }

    /// <summary>The guest.</summary>
    public QemuGuest Guest => _guest;

    /// <summary>Guest RAM in pages.</summary>
    public long RamPages { get; }

    /// <summary>Where the driver is.</summary>
    public QemuBalloonState State { get { lock (_lock) return _state; } }

    /// <summary>Why it failed or found no balloon driver, or null.</summary>
    public QemuException? Fault { get { lock (_lock) return _fault; } }

    /// <summary>The balloon size asked for, in pages.</summary>
    public long TargetPages { get { lock (_lock) return _target; } }

    /// <summary>The guest's available memory (its idle memory) as last reported, bytes, or null before its first statistics.</summary>
    public long? AvailableBytes { get { lock (_lock) return _availableBytes; } }

    /// <summary>Targets the balloon stopped short of (each counted once).</summary>
    public long TargetsNotReached { get { lock (_lock) return _targetsNotReached; } }

    /// <inheritdoc/>
    public BalloonDriverStatus Status
    {
        get { lock (_lock) return QemuBalloonFigures.Status(_guest.Options.RamBytes, _actualBytes, _stuck ? 0 : _availableBytes, _bufferBytes); }
    }

    /// <inheritdoc/>
    public event Action? StatusChanged;

    /// <summary>
    /// Asks the guest to send statistics every second and starts the pump. Returns when the balloon's state
    /// has been read once.
    /// </summary>
    /// <exception cref="QemuException">QMP failed (<see cref="QemuError.GuestDied"/>, <see cref="QemuError.QmpConnectionLost"/>,
    /// <see cref="QemuError.QmpCommandFailed"/>); <see cref="QemuError.InvalidArgument"/> when already started.</exception>
    public async Task StartAsync(CancellationToken cancel = default)
    {
        if (!_pump.IsCompleted || State != QemuBalloonState.Waiting) throw new QemuException(QemuError.InvalidArgument, $"the balloon driver of {_guest.Name} is already started");
        await _guest.Qmp.SetBalloonStatsIntervalAsync(BalloonDevice.QomPath, 1, cancel).ConfigureAwait(false);
        long actual = await _guest.Qmp.QueryBalloonAsync(cancel).ConfigureAwait(false);
        lock (_lock)
        {
            _actualBytes = actual;
            _target = RamPages - (actual >> Paging.PageShift);
        }
        _pump = Task.Run(PumpAsync, CancellationToken.None);
    }

    /// <inheritdoc/>
    /// <remarks>A driver that stopped (disposed: its QEMU ended) keeps the target and sends nothing; a controller
    /// that looked at the guest just before it left may still set one, and must not fail for it.</remarks>
    /// <exception cref="QemuException"><see cref="QemuError.InvalidArgument"/> for a balloon that would leave the guest no RAM.</exception>
    public void SetTarget(long pages)
    {
        if (pages < 0 || pages >= RamPages) throw new QemuException(QemuError.InvalidArgument, $"guest {_guest.Name}: a balloon of {pages} pages is outside 0..{RamPages - 1}");
        lock (_lock)
        {
            _target = pages;
            if (pages <= RamPages - (_actualBytes >> Paging.PageShift)) _stuck = false;
            // Under the lock: DisposeAsync marks the driver stopped under it before it disposes the semaphore.
            if (_state != QemuBalloonState.Stopped) _wake.Release();
        }
    }

    private async Task PumpAsync()
    {
        CancellationToken stop = _stop.Token;
        var started = Stopwatch.StartNew();
        long sent = -1, lastActual = -1, stuckTarget = -1;
        var stats = Stopwatch.StartNew();
        var still = Stopwatch.StartNew();
        try
        {
            while (!stop.IsCancellationRequested)
            {
                long target;
                lock (_lock) target = _target;
                if (target != sent && State == QemuBalloonState.Working)
                {
                    await _guest.Qmp.BalloonAsync((RamPages - target) << Paging.PageShift, stop).ConfigureAwait(false);
                    sent = target;
                }
                long actual = await _guest.Qmp.QueryBalloonAsync(stop).ConfigureAwait(false);
                long? available = null;
                if (stats.Elapsed >= SlowPoll || State != QemuBalloonState.Working)
                {
                    BalloonGuestStats s = await _guest.Qmp.GetBalloonStatsAsync(BalloonDevice.QomPath, stop).ConfigureAwait(false);
                    if (s.LastUpdate != null) available = s.AvailableBytes;
                    stats.Restart();
                }
                if (actual != lastActual) still.Restart();
                lastActual = actual;
                bool changed = Update(actual, available, started.Elapsed);
                long ballooned = RamPages - (actual >> Paging.PageShift);
                if (ballooned < sent && still.Elapsed >= StuckAfter && stuckTarget != sent)
                {
                    stuckTarget = sent;
                    NotReached(sent, ballooned);
                    changed = true;
                }
                if (changed) StatusChanged?.Invoke();
                TimeSpan wait = sent >= 0 && ballooned != sent ? FastPoll : SlowPoll;
                await _wake.WaitAsync(wait, stop).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // disposed
        }
        catch (QemuException e)
        {
            Fail(e);
        }
    }

    /// <summary>Takes the new figures; returns true when the controller should look again.</summary>
    private bool Update(long actual, long? available, TimeSpan sinceStart)
    {
        QemuBalloonState before, after;
        bool changed;
        lock (_lock)
        {
            before = _state;
            changed = actual != _actualBytes || (available != null && available != _availableBytes);
            if (actual != _actualBytes) _stuck = false;
            _actualBytes = actual;
            if (available != null) _availableBytes = available;
            if (available != null && _state != QemuBalloonState.Working) _state = QemuBalloonState.Working;
            else if (_state == QemuBalloonState.Waiting && sinceStart >= DriverDeadline)
            {
                _state = QemuBalloonState.NoDriver;
                _fault = new QemuException(QemuError.BalloonUnavailable, $"guest {_guest.Name} sent no balloon statistics within {DriverDeadline.TotalSeconds:0} s: its balloon driver (virtio_balloon) is not loaded");
            }
            after = _state;
        }
        if (before == after) return changed;
        if (after == QemuBalloonState.NoDriver) _log.LogWarning("{Error}; the controller leaves it alone", Fault!.Message);
        else _log.LogInformation("guest {Guest}: balloon driver {State}", _guest.Name, after == QemuBalloonState.Working ? "reporting" : after.ToString());
        return true;
    }

    private void NotReached(long target, long ballooned)
    {
        lock (_lock)
        {
            _targetsNotReached++;
            _stuck = true;
        }
        var e = new QemuException(QemuError.BalloonTargetNotReached, $"guest {_guest.Name}: the balloon stopped at {ballooned} pages, short of its target of {target}, for {StuckAfter.TotalSeconds:0} s");
        _log.LogWarning("{Error}", e.Message);
    }

    private void Fail(QemuException e)
    {
        lock (_lock)
        {
            if (_state is QemuBalloonState.Failed or QemuBalloonState.Stopped) return;
            _state = QemuBalloonState.Failed;
            _fault = e;
        }
        _log.LogWarning("guest {Guest}: balloon driver failed: {Error}", _guest.Name, e.Message);
        StatusChanged?.Invoke();
    }

    /// <summary>Stops the pump (the balloon stays as it is).</summary>
    public async ValueTask DisposeAsync()
    {
        lock (_lock)
        {
            if (_state == QemuBalloonState.Stopped) return;
            _state = QemuBalloonState.Stopped;
        }
        _stop.Cancel();
        await _pump.ConfigureAwait(false);
        _stop.Dispose();
        _wake.Dispose();
    }

    /// <inheritdoc/>
    public override string ToString() => $"balloon driver of {_guest.Name}";
}
