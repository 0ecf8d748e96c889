using GuestMemory.Host;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace GuestMemory.Balloon;

/// <summary>
/// The balloon controller for guests whose RAM the Gmm does not hold (<see cref="IBalloonGuest"/>: real
/// QEMU guests, see GuestMemory.Qemu): the same policy as <see cref="BalloonController"/> (ESX's idle tax,
/// shares, minimum and maximum, hysteresis; <see cref="BalloonPlanner"/>), fed with what the guests and
/// the host report, applied through the same driver contract (<see cref="IBalloonDriver"/>).
/// </summary>
/// <remarks>
/// <para><b>Inputs.</b> The host's use is <see cref="BalloonControllerOptions.ReadRssBytes"/> (for QEMU
/// guests with RAM in memfds: the memfds' resident bytes; the default, this process's RSS, fits guests
/// that live in this process), held under <see cref="BalloonControllerOptions.HostBudgetBytes"/> less
/// <see cref="BalloonControllerOptions.ReserveBytes"/>. Per guest: its host pages
/// (<see cref="IBalloonGuest.ResidentPages"/>) and its driver's report (balloon, free, used, needed).
/// <see cref="BalloonControllerOptions.GmmLowWaterPages"/> does not apply (the Gmm holds none of this RAM).</para>
/// <para><b>Failures of one guest stay its own.</b> A guest whose driver is gone or never came
/// (<see cref="IBalloonGuest.Driver"/> null) is logged once and left alone: its target stays, and its RAM
/// counts as a fixed allocation that may grow to all of it, so the others give more. Drivers only post
/// targets and return cached figures, so a hung guest cannot hold up a step.</para>
/// <para><b>Locking.</b> <c>_lock</c> (rank <c>GuestBalloon</c>, the last: nothing is taken under it, checked in debug builds) guards the guest list and each guest's entry (target, settling clock,
/// subscription), the counters and the last decision; it is held only to read or write them, never while
/// a guest, a driver, the RSS reader, a logger or an event handler is called. <c>_stepGate</c> serializes
/// steps and operator target changes (so targets reach drivers in the order they were set); it guards no
/// data; it is never waited on while a lock of the core is held (checked). <c>_wasShort</c> is touched by steps only. Drivers raise <see cref="IBalloonDriver.StatusChanged"/> on their own threads; the handler takes
/// <c>_lock</c> briefly, then wakes the loop and raises <see cref="Settled"/> holding nothing.</para>
/// </remarks>
public sealed class GuestBalloonController : IDisposable
{
    private readonly BalloonPlanner _planner;
    private readonly ILogger _log;
    private readonly RankedLock _lock = new(LockRank.GuestBalloon);
    private readonly SemaphoreSlim _stepGate = new(1, 1);
    private readonly BackgroundLoop _loop;
    private readonly List<GuestBalloonEntry> _entries = [];
    private BalloonControllerCounters _counters;
    private BalloonDecision? _lastDecision;
    private bool _wasShort;
    private int _disposed;

    /// <summary>Creates a controller with no guests (stopped; see <see cref="Start"/>).</summary>
    /// <exception cref="GmmException"><see cref="GmmError.InvalidArgument"/> for bad options.</exception>
    public GuestBalloonController(BalloonControllerOptions options, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        _planner = new BalloonPlanner(options.IdleTaxRate);
        _log = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<GuestBalloonController>();
        _loop = new BackgroundLoop("gmm-guest-balloon", _ => BalloonTally.StepOrLog(Step, _log, "guest balloon"), options.Period,
            e => _log.LogError(e, "the guest balloon controller stopped after an unexpected error"));
    }

    /// <summary>The options the controller runs with.</summary>
    public BalloonControllerOptions Options { get; }

    /// <summary>True while the background thread runs.</summary>
    public bool IsRunning => _loop.IsRunning;

    /// <summary>Running totals.</summary>
    public BalloonControllerCounters Counters { get { using (_lock.EnterScope()) return _counters; } }

    /// <summary>The last step's decision (its <see cref="BalloonDecision.GuestChanges"/>), or null before the first step.</summary>
    public BalloonDecision? LastDecision { get { using (_lock.EnterScope()) return _lastDecision; } }

    /// <summary>The guests it steers, in the order they were added.</summary>
    public IReadOnlyList<IBalloonGuest> Guests { get { using (_lock.EnterScope()) return _entries.Select(e => e.Guest).ToArray(); } }

    /// <summary>
    /// Raised (on the driver's or the stepping thread) when a guest's balloon reaches its target, with how
    /// long ago that target was set (a target replaced before it is reached is not reported). Handlers must be quick.
    /// </summary>
    public event Action<IBalloonGuest, TimeSpan>? Settled;

    /// <summary>
    /// Adds a guest. Its first target is its balloon now, brought inside its limits (or its smallest
    /// balloon while it has no driver), posted to its driver at once.
    /// </summary>
    /// <exception cref="GmmException"><see cref="GmmError.InvalidArgument"/> for a guest with an empty name,
    /// a name already steered, no RAM, or limits outside 0 ≤ minimum ≤ maximum ≤ RAM or a weight below 1.
    /// Nothing changes then.</exception>
    public void Add(IBalloonGuest guest)
    {
        ArgumentNullException.ThrowIfNull(guest);
        string name = guest.Name;
        long ram = guest.RamPages, min = guest.MinimumTargetPages, max = guest.MaximumTargetPages;
        if (string.IsNullOrEmpty(name)) throw new GmmException(GmmError.InvalidArgument, "a guest needs a name");
        if (ram <= 0 || min < 0 || min > max || max > ram)
            throw new GmmException(GmmError.InvalidArgument, $"guest {name}: balloon limits must be 0 <= minimum ({min}) <= maximum ({max}) <= RAM ({ram} pages)");
        if (guest.Weight < 1) throw new GmmException(GmmError.InvalidArgument, $"guest {name}: weight must be at least 1, not {guest.Weight}");
        long ballooned = guest.Driver?.Status.BalloonedPages ?? min;
        var entry = new GuestBalloonEntry(guest, Math.Clamp(ballooned, min, max));
        using (_lock.EnterScope())
        {
            if (_entries.Any(e => e.Guest == guest || e.Guest.Name == name))
                throw new GmmException(GmmError.InvalidArgument, $"a guest named {name} is already steered");
            _entries.Add(entry);
        }
        _log.LogInformation("guest {Guest} added: {Ram} MiB, balloon {Min}..{Max} pages", name, ram >> 8, min, max);
        WaitForStepGate();
        try
        {
            Resubscribe(entry, guest.Driver, entry.Target);
        }
        finally
        {
            _stepGate.Release();
        }
    }

    /// <summary>Stops steering a guest (its balloon stays as it is). Returns false when it was not steered.</summary>
    public bool Remove(IBalloonGuest guest)
    {
        ArgumentNullException.ThrowIfNull(guest);
        GuestBalloonEntry? entry;
        using (_lock.EnterScope())
        {
            entry = _entries.FirstOrDefault(e => e.Guest == guest);
            if (entry == null) return false;
            _entries.Remove(entry);
        }
        Unsubscribe(entry);
        _log.LogInformation("guest {Guest} removed", guest.Name);
        return true;
    }

    /// <summary>The balloon size the controller asks of <paramref name="guest"/>, in pages.</summary>
    /// <exception cref="GmmException"><see cref="GmmError.VmNotFound"/> for a guest it does not steer.</exception>
    public long GetTarget(IBalloonGuest guest)
    {
        using (_lock.EnterScope()) return Find(guest).Target;
    }

    /// <summary>True while the guest's balloon holds its target (as its driver last reported).</summary>
    /// <exception cref="GmmException"><see cref="GmmError.VmNotFound"/> for a guest it does not steer.</exception>
    public bool IsSettled(IBalloonGuest guest)
    {
        using (_lock.EnterScope()) return Find(guest).IsSettled;
    }

    /// <summary>
    /// Sets a guest's target by hand (an operator's request) and posts it to its driver; the controller's
    /// next step may change it again as its policy says.
    /// </summary>
    /// <exception cref="GmmException"><see cref="GmmError.BalloonTargetOutOfRange"/> outside the guest's
    /// limits; <see cref="GmmError.VmNotFound"/> for a guest it does not steer. Nothing changes then.</exception>
    public void SetTarget(IBalloonGuest guest, long pages)
    {
        ArgumentNullException.ThrowIfNull(guest);
        if (pages < guest.MinimumTargetPages || pages > guest.MaximumTargetPages)
            throw new GmmException(GmmError.BalloonTargetOutOfRange,
                $"guest {guest.Name}: a balloon of {pages} pages is outside {guest.MinimumTargetPages}..{guest.MaximumTargetPages}");
        WaitForStepGate();
        try
        {
            IBalloonDriver? driver = guest.Driver;
            long ballooned = driver?.Status.BalloonedPages ?? 0;
            using (_lock.EnterScope())
            {
                GuestBalloonEntry entry = Find(guest);
                entry.Target = pages;
                entry.Track(ballooned);
            }
            driver?.SetTarget(pages);
        }
        finally
        {
            _stepGate.Release();
        }
    }

    /// <summary>Takes the step gate; waiting on it while holding any lock of the core could deadlock (checked in debug builds).</summary>
    private void WaitForStepGate()
    {
        LockOrder.AssertNoneHeldFrom(LockRank.Manager, "waiting for a guest balloon step");
        _stepGate.Wait();
    }

    /// <summary>Starts stepping every period on a background thread.</summary>
    public void Start() => _loop.Start();

    /// <summary>Stops the background thread (targets stay as they are).</summary>
    public void Stop() => _loop.Stop();

    /// <summary>Makes the background thread step now.</summary>
    public void Wake() => _loop.Wake();

    /// <summary>
    /// Looks at the host and every guest once and sets new targets. Safe to call while the background
    /// thread runs (steps never overlap).
    /// </summary>
    public BalloonDecision Step()
    {
        WaitForStepGate();
        try
        {
            GuestBalloonEntry[] entries;
            using (_lock.EnterScope()) entries = _entries.ToArray();
            var figures = new BalloonVmFigures[entries.Length];
            var drivers = new IBalloonDriver?[entries.Length];
            for (int i = 0; i < entries.Length; i++) (drivers[i], figures[i]) = Look(entries[i]);
            long rss = Options.ReadRssBytes();
            long headroom = Math.DivRem(Options.HostBudgetBytes - Options.ReserveBytes - rss, Paging.PageSize).Quotient;
            BalloonPlan plan = _planner.Plan(headroom, Options.HysteresisBytes >> Paging.PageShift, figures);
            var changes = new List<GuestTargetChange>();
            var settled = new List<(IBalloonGuest, TimeSpan)>();
            for (int i = 0; i < entries.Length; i++)
            {
                long old = figures[i].Target, next = plan.Targets[i];
                if (next == old || drivers[i] is not IBalloonDriver driver) continue;
                using (_lock.EnterScope())
                {
                    entries[i].Target = next;
                    if (entries[i].Track(figures[i].Ballooned) is TimeSpan waited) settled.Add((entries[i].Guest, waited)); // withdrawn to where the balloon stands
                }
                driver.SetTarget(next);
                changes.Add(new GuestTargetChange(entries[i].Guest, old, next, plan.Reasons[i]));
            }
            foreach ((IBalloonGuest guest, TimeSpan waited) in settled) Settled?.Invoke(guest, waited);
            BalloonDecision decision = Record(entries, figures, rss, plan, changes);
            _wasShort = BalloonTally.Log(_log, "guest balloon", decision, decision.GuestChanges, _wasShort);
            return decision;
        }
        finally
        {
            _stepGate.Release();
        }
    }

    /// <summary>Outside the lock: one guest's figures, subscribing to a driver that is new and reporting one that went.</summary>
    private (IBalloonDriver?, BalloonVmFigures) Look(GuestBalloonEntry entry)
    {
        IBalloonGuest guest = entry.Guest;
        IBalloonDriver? driver = guest.Driver;
        BalloonDriverStatus status = driver?.Status ?? default;
        long ram = guest.RamPages;
        long ballooned = Math.Clamp(status.BalloonedPages, 0, ram);
        long used = Math.Clamp(status.UsedPages, 0, ram - ballooned);
        long target;
        bool newDriver;
        using (_lock.EnterScope())
        {
            target = entry.Target;
            newDriver = entry.Subscribed != driver;
        }
        if (newDriver) Resubscribe(entry, driver, target);
        return (driver, new BalloonVmFigures
        {
            HasDriver = driver != null,
            RamPages = ram,
            Target = target,
            Ballooned = ballooned,
            Backed = Math.Clamp(guest.ResidentPages, 0, ram - ballooned),
            Used = used,
            Needed = Math.Clamp(status.NeededPages, used, ram),
            MinTarget = guest.MinimumTargetPages,
            MaxTarget = guest.MaximumTargetPages,
            Shares = (double)guest.Weight * BalloonController.PriorityFactor(guest.Priority) * ram,
        });
    }

    /// <summary>The guest's driver changed (came, went or was replaced): listen to the new one and post it the target.</summary>
    private void Resubscribe(GuestBalloonEntry entry, IBalloonDriver? driver, long target)
    {
        Unsubscribe(entry);
        bool had;
        using (_lock.EnterScope())
        {
            had = entry.HadDriver;
            entry.HadDriver = driver != null;
        }
        if (driver == null)
        {
            if (had) _log.LogWarning("guest {Guest} has no working balloon driver: left alone, its RAM counted as fixed", entry.Guest.Name);
            return;
        }
        Action handler = () => OnStatusChanged(entry, driver);
        using (_lock.EnterScope())
        {
            entry.Subscribed = driver;
            entry.Handler = handler;
        }
        driver.StatusChanged += handler;
        if (!had) _log.LogInformation("guest {Guest} has a balloon driver again", entry.Guest.Name);
        driver.SetTarget(target);
    }

    private void Unsubscribe(GuestBalloonEntry entry)
    {
        IBalloonDriver? old;
        Action? handler;
        using (_lock.EnterScope())
        {
            (old, handler) = (entry.Subscribed, entry.Handler);
            entry.Subscribed = null;
            entry.Handler = null;
        }
        if (old != null && handler != null) old.StatusChanged -= handler;
    }

    /// <summary>A driver reported progress or demand: note settling, and wake the loop when the guest wants more or just settled.</summary>
    private void OnStatusChanged(GuestBalloonEntry entry, IBalloonDriver driver)
    {
        BalloonDriverStatus status = driver.Status;
        TimeSpan? settled;
        bool wantsMore;
        using (_lock.EnterScope())
        {
            if (entry.Subscribed != driver) return;
            long wanted = status.WantedPages;
            wantsMore = wanted > entry.LastWanted;
            entry.LastWanted = wanted;
            settled = entry.Track(status.BalloonedPages);
        }
        if (settled != null || wantsMore) Wake();
        if (settled is TimeSpan waited) Settled?.Invoke(entry.Guest, waited);
    }

    private GuestBalloonEntry Find(IBalloonGuest guest) =>
        _entries.FirstOrDefault(e => e.Guest == guest) ?? throw new GmmException(GmmError.VmNotFound, $"guest {guest?.Name} is not steered by this controller");

    /// <summary>Counts the step and remembers it.</summary>
    private BalloonDecision Record(GuestBalloonEntry[] entries, BalloonVmFigures[] figures, long rss, BalloonPlan plan, List<GuestTargetChange> changes)
    {
        using (_lock.EnterScope())
        {
            long reclaimed = 0;
            for (int i = 0; i < entries.Length; i++)
            {
                if (entries[i].LastBallooned >= 0) reclaimed += Math.Max(0, figures[i].Ballooned - entries[i].LastBallooned);
                entries[i].LastBallooned = figures[i].Ballooned;
            }
            _counters = BalloonTally.Add(_counters, plan, changes.Select(c => (c.OldTargetPages, c.NewTargetPages)), reclaimed);
            _lastDecision = BalloonTally.Decision(_counters.Steps, rss, Options.HostBudgetBytes, plan) with { GuestChanges = changes };
            return _lastDecision;
        }
    }



    /// <summary>Stops the thread and stops listening to the drivers. Targets stay as they are.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _loop.Dispose();
        GuestBalloonEntry[] entries;
        using (_lock.EnterScope()) entries = _entries.ToArray();
        foreach (GuestBalloonEntry e in entries) Unsubscribe(e);
    }
}
