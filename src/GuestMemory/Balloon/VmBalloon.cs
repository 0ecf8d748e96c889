using System.Diagnostics;
using GuestMemory.Host;

namespace GuestMemory.Balloon;

/// <summary>
/// The host side of one VM's memory balloon: its limits (from <see cref="VmOptions.MinimumRam"/>,
/// <see cref="VmOptions.MaximumRam"/> and <see cref="VmOptions.Weight"/>), its target, the guest's driver,
/// and how long the balloon takes to settle at a new target.
/// </summary>
/// <remarks>
/// <para><b>Targets are balloon sizes in pages</b>, as the seed's balloon request counts them. Limits
/// on guest memory translate into limits on the balloon: the balloon may hold at most
/// RamSize - MinimumRam (<see cref="MaximumTargetPages"/>) and must hold at least RamSize - MaximumRam
/// (<see cref="MinimumTargetPages"/>). A target outside them is refused, so no caller, controller or
/// operator, can take a VM below its minimum.</para>
/// <para><b>Settling.</b> The balloon is settled while the Gmm's count of the VM's ballooned pages equals
/// the target. The clock starts when it stops being settled (a new target, or a guest reset emptying the
/// balloon) and is not restarted by further target changes, so <see cref="Settled"/> reports how long the
/// VM really waited. Unreachable targets (the guest uses the pages) never settle.</para>
/// <para><b>Locking.</b> <c>_lock</c> guards the target, the driver and the settling state; the Gmm is
/// called under it, nothing else. The driver is never called under it (a driver may do I/O, as the QEMU
/// driver does over QMP): <c>_delivery</c> is held while a target goes to the driver, so targets reach it
/// one at a time and in the order they were set (each delivery reads the newest target). Events are
/// raised outside both. Lock order: <c>_delivery</c>, <c>_lock</c>, the Gmm.</para>
/// </remarks>
public sealed class VmBalloon
{
    private readonly RankedLock _delivery = new(LockRank.BalloonDelivery);
    private readonly RankedLock _lock = new(LockRank.Balloon);
    private readonly VirtualMachine _vm;
    private IBalloonDriver? _driver;
    private long _target;
    private long _unsettledSince;
    private long _lastWanted;
    private long _settledTargets;

    internal VmBalloon(VirtualMachine vm)
    {
        _vm = vm;
        VmOptions options = vm.Options;
        RamPages = options.RamSize >> Paging.PageShift;
        MinimumTargetPages = RamPages - ((options.MaximumRam ?? options.RamSize) >> Paging.PageShift);
        MaximumTargetPages = RamPages - (options.MinimumRam >> Paging.PageShift);
        Weight = options.Weight;
        _target = MinimumTargetPages;
        if (_target != 0) _unsettledSince = Stopwatch.GetTimestamp(); // a new VM's balloon is empty
    }

    /// <summary>Guest RAM in pages.</summary>
    public long RamPages { get; }

    /// <summary>The smallest balloon allowed: RamSize - MaximumRam, in pages.</summary>
    public long MinimumTargetPages { get; }

    /// <summary>The largest balloon allowed: RamSize - MinimumRam, in pages.</summary>
    public long MaximumTargetPages { get; }

    /// <summary>The VM's memory weight (shares), see <see cref="VmOptions.Weight"/>.</summary>
    public int Weight { get; }

    /// <summary>The balloon size the host asks for, in pages (initially <see cref="MinimumTargetPages"/>).</summary>
    public long TargetPages { get { using (_lock.EnterScope()) return _target; } }

    /// <summary>The guest's balloon driver, or null while the guest runs none.</summary>
    public IBalloonDriver? Driver { get { using (_lock.EnterScope()) return _driver; } }

    /// <summary>True while the balloon holds exactly its target.</summary>
    public bool IsSettled { get { using (_lock.EnterScope()) return _unsettledSince == 0; } }

    /// <summary>How many times the balloon reached its target after waiting for it.</summary>
    public long SettledTargets { get { using (_lock.EnterScope()) return _settledTargets; } }

    /// <summary>
    /// Raised (on the driver's thread) when the balloon reaches its target, with how long it was away
    /// from it. Handlers must be quick.
    /// </summary>
    public event Action<VmBalloon, TimeSpan>? Settled;

    /// <summary>The VM this balloon belongs to.</summary>
    public VirtualMachine Vm => _vm;

    /// <summary>Connects the guest's driver and posts the current target to it.</summary>
    /// <exception cref="GmmException"><see cref="GmmError.InvalidArgument"/> when a driver is already attached.</exception>
    public void Attach(IBalloonDriver driver)
    {
        ArgumentNullException.ThrowIfNull(driver);
        using (_delivery.EnterScope())
        {
            long target;
            using (_lock.EnterScope())
            {
                ThrowIfDestroyed();
                if (_driver != null) throw new GmmException(GmmError.InvalidArgument, $"{_vm} already has a balloon driver; detach it first");
                _driver = driver;
                _lastWanted = 0;
                driver.StatusChanged += OnDriverStatusChanged;
                target = _target;
            }
            driver.SetTarget(target);
        }
    }

    /// <summary>Disconnects the driver (the guest stopped its additions); the balloon keeps its pages.</summary>
    public void Detach()
    {
        using (_lock.EnterScope())
        {
            if (_driver == null) return;
            _driver.StatusChanged -= OnDriverStatusChanged;
            _driver = null;
        }
    }

    /// <summary>
    /// Asks the guest for a balloon of <paramref name="pages"/> pages: the Gmm records the request
    /// (requested versus actually ballooned, see <see cref="Gmm.GmmVmStatistics"/>) and the driver gets it.
    /// </summary>
    /// <exception cref="GmmException"><see cref="GmmError.BalloonTargetOutOfRange"/> outside
    /// <see cref="MinimumTargetPages"/>..<see cref="MaximumTargetPages"/>; <see cref="GmmError.VmDestroyed"/>
    /// after the VM is destroyed. Nothing changes then.</exception>
    public void SetTarget(long pages)
    {
        if (pages < MinimumTargetPages || pages > MaximumTargetPages)
            throw new GmmException(GmmError.BalloonTargetOutOfRange,
                $"a balloon of {pages} pages would leave {_vm} {Mib(RamPages - pages)} MiB of RAM, outside its {Mib(RamPages - MaximumTargetPages)}..{Mib(RamPages - MinimumTargetPages)} MiB (minimum..maximum)");
        TimeSpan? settled;
        using (_delivery.EnterScope())
        {
            IBalloonDriver? driver;
            using (_lock.EnterScope())
            {
                ThrowIfDestroyed();
                _vm.Manager.Pages.RequestBalloon(_vm.Handle, pages);
                _target = pages;
                // Start the settling clock before the driver hears of the target: a fast guest could otherwise
                // reach it first, and the clock would never start nor the settling be reported.
                settled = TrackSettling();
                driver = _driver;
            }
            driver?.SetTarget(pages);
        }
        RaiseSettled(settled);
    }

    private void ThrowIfDestroyed()
    {
        if (_vm.IsDestroyed) throw new GmmException(GmmError.VmDestroyed, $"{_vm} was destroyed");
    }

    /// <summary>The driver reported progress or demand: note settling, and wake the controller when needed.</summary>
    private void OnDriverStatusChanged()
    {
        TimeSpan? settled;
        bool wantsMore;
        using (_lock.EnterScope())
        {
            if (_driver == null) return;
            long wanted = _driver.Status.WantedPages;
            wantsMore = wanted > _lastWanted;
            _lastWanted = wanted;
            try
            {
                settled = TrackSettling();
            }
            catch (GmmException e) when (e.Error is GmmError.VmNotFound or GmmError.VmDestroyed)
            {
                return; // the VM is being destroyed
            }
        }
        if (settled != null || wantsMore) _vm.Manager.BalloonController?.Wake();
        RaiseSettled(settled);
    }

    /// <summary>Under the lock: starts or stops the settling clock; returns the wait when the target was just reached.</summary>
    private TimeSpan? TrackSettling()
    {
        bool atTarget = _vm.Manager.Pages.GetVmStatistics(_vm.Handle).BalloonedPages == _target;
        if (!atTarget)
        {
            if (_unsettledSince == 0) _unsettledSince = Stopwatch.GetTimestamp();
            return null;
        }
        if (_unsettledSince == 0) return null;
        TimeSpan waited = Stopwatch.GetElapsedTime(_unsettledSince);
        _unsettledSince = 0;
        _settledTargets++;
        return waited;
    }

    private void RaiseSettled(TimeSpan? waited)
    {
        if (waited is { } w) Settled?.Invoke(this, w);
    }

    private static long Mib(long pages) => pages * Paging.PageSize >> 20;

    /// <inheritdoc/>
    public override string ToString() => $"balloon of {_vm}";
}
