using GuestMemory.Host;
using GuestMemory.Gmm;
using GuestMemory.Phys;
using Microsoft.Extensions.Logging;

namespace GuestMemory.Balloon;

/// <summary>
/// The host side of ballooning: watches host pressure (real RSS against a budget, and the pages the Gmm
/// can still hand out) and sets every VM's balloon target so that what the guests may touch always fits,
/// taking memory first from the VMs that deserve it least (priority, weight, idle memory) and never below
/// a VM's minimum, and handing it back to guests that ask for it and when pressure ends.
/// </summary>
/// <remarks>
/// <para><b>Design note.</b> Over-commit here means the VMs' reservations (what they were promised)
/// exceed the host; what the guests can actually write without asking never does. The policy itself
/// is <see cref="BalloonPlanner"/>; this class gathers its figures, applies its targets through
/// <see cref="VmBalloon.SetTarget"/> (so the Gmm's requested-versus-ballooned accounting sees each
/// request), logs each decision and counts it. It runs every <see cref="BalloonControllerOptions.Period"/>
/// on its own thread (<see cref="Start"/>), or when a guest wants memory or a balloon settles
/// (<see cref="Wake"/>), or synchronously (<see cref="Step"/>) for tests and tools.</para>
/// <para><b>When ballooning is not enough</b> (every guest uses its memory) the shortfall is logged and
/// counted, and the Gmm's global limit does the rest: a guest write that needs a page fails with
/// <see cref="GmmError.HitGlobalLimit"/> and writes nothing.</para>
/// <para><b>Locking.</b> <c>_stepLock</c> serializes steps and guards the counters, the last decision and
/// the per-VM balloon counts. A step takes, under it, each VM's lock (statistics), the Gmm's lock and a
/// balloon's lock (targets): lock order controller, then VM balloon, then VM or Gmm. Guests wake the
/// controller without any lock. A step reads every VM's figures before the RSS, so writes racing with it
/// make it see too little headroom rather than too much.</para>
/// </remarks>
public sealed class BalloonController : IDisposable
{
    private readonly GlobalMemoryManager _manager;
    private readonly BalloonPlanner _planner;
    private readonly ILogger _log;
    private readonly Lock _stepLock = new();
    private readonly BackgroundLoop _loop;
    private Dictionary<VirtualMachine, long> _lastBallooned = [];
    private BalloonControllerCounters _counters;
    private BalloonDecision? _lastDecision;
    private bool _wasShort;
    private int _disposed;

    /// <summary>Creates the manager's balloon controller (stopped; see <see cref="Start"/>).</summary>
    /// <exception cref="GmmException"><see cref="GmmError.InvalidArgument"/> for bad options, or when the manager already has a controller.</exception>
    public BalloonController(GlobalMemoryManager manager, BalloonControllerOptions options)
    {
        ArgumentNullException.ThrowIfNull(manager);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _manager = manager;
        Options = options;
        _planner = new BalloonPlanner(options.IdleTaxRate);
        _log = manager.LoggerFactory.CreateLogger<BalloonController>();
        _loop = new BackgroundLoop("gmm-balloon", _ => BalloonTally.StepOrLog(Step, _log, "balloon"), options.Period,
            e => _log.LogError(e, "the balloon controller stopped after an unexpected error"));
        manager.RegisterBalloonController(this);
    }

    /// <summary>The options the controller runs with.</summary>
    public BalloonControllerOptions Options { get; }

    /// <summary>True while the background thread runs.</summary>
    public bool IsRunning => _loop.IsRunning;

    /// <summary>Running totals.</summary>
    public BalloonControllerCounters Counters { get { lock (_stepLock) return _counters; } }

    /// <summary>The last step's decision, or null before the first step.</summary>
    public BalloonDecision? LastDecision { get { lock (_stepLock) return _lastDecision; } }

    /// <summary>Starts stepping every period on a background thread.</summary>
    public void Start() => _loop.Start();

    /// <summary>Stops the background thread (targets stay as they are).</summary>
    public void Stop() => _loop.Stop();

    /// <summary>Makes the background thread step now (a guest asked for memory, or a balloon settled).</summary>
    public void Wake() => _loop.Wake();

    /// <summary>
    /// Looks at the host and every VM once and sets new targets. Safe to call while the background
    /// thread runs (steps never overlap).
    /// </summary>
    public BalloonDecision Step()
    {
        lock (_stepLock)
        {
            (VirtualMachine[] vms, BalloonVmFigures[] figures, long[] ballooned) = Gather();
            long rss = Options.ReadRssBytes();
            GmmStatistics gmm = _manager.Pages.GetStatistics();
            int drivers = figures.Count(f => f.HasDriver);
            long reserve = Options.ReserveBytes + (long)drivers * Paging.ChunkSize;
            long headroom = Math.Min(
                Math.DivRem(Options.HostBudgetBytes - reserve - rss, Paging.PageSize).Quotient,
                gmm.MaxPages - gmm.AllocatedPages - Options.GmmLowWaterPages);
            BalloonPlan plan = _planner.Plan(headroom, Options.HysteresisBytes >> Paging.PageShift, figures);
            List<BalloonTargetChange> changes = Apply(vms, figures, plan);
            BalloonDecision decision = Record(vms, ballooned, rss, plan, changes);
            _wasShort = BalloonTally.Log(_log, "balloon", decision, decision.Changes, _wasShort);
            return decision;
        }
    }

    /// <summary>Under the step lock: every live VM and its figures (VMs destroyed meanwhile are left out).</summary>
    private (VirtualMachine[], BalloonVmFigures[], long[]) Gather()
    {
        var vms = new List<VirtualMachine>();
        var figures = new List<BalloonVmFigures>();
        var ballooned = new List<long>();
        foreach (VirtualMachine vm in _manager.Vms)
        {
            try
            {
                VmBalloon balloon = vm.Balloon;
                GmmVmStatistics accounts = vm.Accounts;
                GuestMemoryStatistics memory = vm.Memory.GetStatistics();
                IBalloonDriver? driver = balloon.Driver;
                BalloonDriverStatus status = driver?.Status ?? default;
                long ram = memory.RamPages;
                long used = Math.Clamp(status.UsedPages, 0, ram - memory.BalloonedPages);
                figures.Add(new BalloonVmFigures
                {
                    HasDriver = driver != null,
                    RamPages = ram,
                    Target = balloon.TargetPages,
                    Ballooned = memory.BalloonedPages,
                    Backed = Math.Max(0, ram - memory.ZeroPages - memory.BalloonedPages),
                    Used = used,
                    Needed = Math.Clamp(status.NeededPages, used, ram),
                    MinTarget = balloon.MinimumTargetPages,
                    MaxTarget = balloon.MaximumTargetPages,
                    Shares = (double)balloon.Weight * PriorityFactor(accounts.Priority) * ram,
                });
                vms.Add(vm);
                ballooned.Add(memory.BalloonedPages);
            }
            catch (GmmException e) when (e.Error is GmmError.VmNotFound or GmmError.VmDestroyed)
            {
                // destroyed while we looked: nothing to steer
            }
        }
        return (vms.ToArray(), figures.ToArray(), ballooned.ToArray());
    }

    /// <summary>ESX's share ratio low : normal : high = 1 : 2 : 4.</summary>
    internal static int PriorityFactor(VmPriority priority) => priority switch
    {
        VmPriority.Low => 1,
        VmPriority.High => 4,
        _ => 2,
    };

    private List<BalloonTargetChange> Apply(VirtualMachine[] vms, BalloonVmFigures[] figures, BalloonPlan plan)
    {
        var changes = new List<BalloonTargetChange>();
        for (int i = 0; i < vms.Length; i++)
        {
            long old = figures[i].Target, next = plan.Targets[i];
            if (next == old) continue;
            try
            {
                vms[i].Balloon.SetTarget(next);
                changes.Add(new BalloonTargetChange(vms[i], old, next, plan.Reasons[i]));
            }
            catch (GmmException e) when (e.Error == GmmError.VmNotFound)
            {
                // destroyed since Gather
            }
        }
        return changes;
    }

    /// <summary>Under the step lock: counts the step and remembers it.</summary>
    private BalloonDecision Record(VirtualMachine[] vms, long[] ballooned, long rss, BalloonPlan plan, List<BalloonTargetChange> changes)
    {
        long reclaimed = 0;
        var now = new Dictionary<VirtualMachine, long>(vms.Length);
        for (int i = 0; i < vms.Length; i++)
        {
            if (_lastBallooned.TryGetValue(vms[i], out long before)) reclaimed += Math.Max(0, ballooned[i] - before);
            now[vms[i]] = ballooned[i];
        }
        _lastBallooned = now;
        _counters = BalloonTally.Add(_counters, plan, changes.Select(c => (c.OldTargetPages, c.NewTargetPages)), reclaimed);
        _lastDecision = BalloonTally.Decision(_counters.Steps, rss, Options.HostBudgetBytes, plan) with { Changes = changes };
        return _lastDecision;
    }



    /// <summary>Stops the thread and lets the manager take another controller. Targets stay as they are.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _loop.Dispose();
        _manager.UnregisterBalloonController(this);
    }
}
