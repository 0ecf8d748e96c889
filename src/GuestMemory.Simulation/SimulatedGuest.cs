using System.Diagnostics;
using GuestMemory.Balloon;

namespace GuestMemory.Simulation;

/// <summary>
/// A guest operating system reduced to what ballooning needs, with an honest balloon driver: a workload
/// whose working set grows and shrinks and which writes recognisable content (<see cref="PagePattern"/>)
/// into every page it uses, a free list, and a balloon. Tests, benchmarks and the CLI run it in place of
/// a real guest.
/// </summary>
/// <remarks>
/// <para><b>Honest.</b> The driver inflates only pages on the free list, never a used one, so a target the
/// guest cannot reach stays unreached. Freed pages keep their content and host page (as in a real guest,
/// where freeing costs the host nothing); the driver balloons the most recently freed ones first, and
/// the pages it deflates go to the tail of the free list. When the workload needs more pages than are
/// free it does not raid the balloon: it reports them as wanted and waits for the host. A write the host
/// cannot back fails with a typed error; the guest keeps the page free and tries again later.</para>
/// <para><b>Checked.</b> Before rewriting a used page the workload reads it back;
/// <see cref="VerifyContent()"/> checks every page: used and free pages read what the guest last wrote,
/// ballooned and never-written pages read zero, and guest-physical memory agrees with the guest on which
/// pages are ballooned.</para>
/// <para><b>Threads.</b> The guest's state (lists, generations, counters) is owned by whoever holds
/// <c>_guestLock</c>: its own thread (<see cref="Start"/>) for one tick at a time, or a caller of
/// <see cref="RunOnce"/>, <see cref="Reboot"/> or <see cref="VerifyContent()"/>. Host threads only post a
/// target (a volatile field and a wake-up) and read the figures, which are published under
/// <c>_figuresLock</c> at the end of each tick. <see cref="StatusChanged"/> is raised holding neither.</para>
/// </remarks>
public sealed partial class SimulatedGuest : IBalloonDriver, IDisposable
{
    private readonly Lock _guestLock = new();
    private readonly Lock _figuresLock = new();
    private readonly SimulatedGuestOptions _options;
    private readonly Random _random;
    private readonly int _ramPages;
    private readonly FrameDeque _free;
    private readonly FrameDeque _balloon;
    private readonly FrameSet _used;
    private readonly uint[] _generation;
    private readonly int[] _batchFrames;
    private readonly ulong[] _batchAddresses;
    private readonly byte[] _page = new byte[Paging.PageSize];
    private readonly byte[] _expected = new byte[Paging.PageSize];
    private readonly GuestThread _loop;
    private long _target;
    private long _workingSet;
    private long _needed;
    private long _bootedAt;
    private long _ticks, _written, _checked, _contentErrors, _allocationFailures, _balloonErrors, _inflated, _deflated;
    private BalloonDriverStatus _status;
    private SimulatedGuestCounters _counters;
    private volatile Exception? _fault;

    /// <summary>
    /// Boots a guest on <paramref name="vm"/>: its memory is reset to power-on (every page free and zero)
    /// and the guest's driver is attached to the VM's balloon, which posts the current target.
    /// </summary>
    /// <exception cref="GmmException"><see cref="GmmError.InvalidArgument"/> for bad options or when the VM already has a
    /// balloon driver; <see cref="GmmError.PageLocked"/> while a page of the VM is mapped.</exception>
    public SimulatedGuest(VirtualMachine vm, SimulatedGuestOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(vm);
        _options = options ?? new SimulatedGuestOptions();
        _options.Validate();
        Vm = vm;
        _ramPages = checked((int)vm.Balloon.RamPages);
        _random = new Random(_options.Seed);
        _free = new FrameDeque(_ramPages);
        _balloon = new FrameDeque(_ramPages);
        _used = new FrameSet(_ramPages);
        _generation = new uint[_ramPages];
        _batchFrames = new int[_options.BalloonBatchPages];
        _batchAddresses = new ulong[_options.BalloonBatchPages];
        _loop = new GuestThread($"guest {vm.Name}", RunOnce, _options.Tick, e => _fault = e);
        lock (_guestLock) PowerOn();
        vm.Balloon.Attach(this);
    }

    /// <summary>The VM the guest runs in.</summary>
    public VirtualMachine Vm { get; }

    /// <summary>
    /// The pages the workload wants to use; it grows or shrinks towards this a batch per tick. Set by the
    /// caller, or each tick from <see cref="SimulatedGuestOptions.Workload"/>.
    /// </summary>
    public long WorkingSetPages
    {
        get => Volatile.Read(ref _workingSet);
        set => Volatile.Write(ref _workingSet, Math.Clamp(value, 0, _ramPages));
    }

    /// <summary>The balloon size the host last asked for.</summary>
    public long TargetPages => Volatile.Read(ref _target);

    /// <summary>The exception that stopped the guest's thread, if one did (a bug: the guest handles every typed error).</summary>
    public Exception? Fault => _fault;

    /// <summary>True while the guest's thread runs.</summary>
    public bool IsRunning => _loop.IsRunning;

    /// <inheritdoc/>
    public void SetTarget(long pages)
    {
        Volatile.Write(ref _target, pages);
        _loop.Wake();
    }

    /// <inheritdoc/>
    public BalloonDriverStatus Status { get { lock (_figuresLock) return _status; } }

    /// <summary>The guest's counters as of its last tick.</summary>
    public SimulatedGuestCounters Counters { get { lock (_figuresLock) return _counters; } }

    /// <inheritdoc/>
    public event Action? StatusChanged;

    /// <summary>Runs the guest on its own thread: a tick whenever there is work, else every <see cref="SimulatedGuestOptions.Tick"/>.</summary>
    public void Start() => _loop.Start();

    /// <summary>Stops the guest's thread after its current tick.</summary>
    public void Stop() => _loop.Stop();

    /// <summary>
    /// One tick on the calling thread: balloon batches towards the target (up to
    /// <see cref="SimulatedGuestOptions.BalloonBatchesPerTick"/>), one workload batch towards the working
    /// set, a few used pages checked and rewritten. Returns true when more work is waiting.
    /// </summary>
    public bool RunOnce()
    {
        bool more, changed;
        lock (_guestLock)
        {
            _ticks++;
            if (_options.Workload is { } workload) WorkingSetPages = workload(Stopwatch.GetElapsedTime(_bootedAt));
            more = false;
            for (int batch = 0; batch < _options.BalloonBatchesPerTick && (more = BalloonStep()); batch++) { }
            more |= WorkloadStep();
            Touch();
            changed = Publish();
        }
        if (changed) StatusChanged?.Invoke();
        return more;
    }

    /// <summary>Runs ticks on the calling thread until none has more work (at most <paramref name="maxTicks"/>); returns how many ran.</summary>
    public int RunUntilIdle(int maxTicks = 1_000_000)
    {
        int ticks = 0;
        while (ticks < maxTicks)
        {
            ticks++;
            if (!RunOnce()) break;
        }
        return ticks;
    }

    /// <summary>
    /// Resets the VM (every page back to zero, the balloon emptied in guest memory and in the Gmm) and
    /// boots the guest again: all pages free, nothing used. The host's target stands; the driver works
    /// towards it again.
    /// </summary>
    public void Reboot()
    {
        lock (_guestLock)
        {
            PowerOn();
            Publish();
        }
        StatusChanged?.Invoke();
    }

    /// <summary>Under the guest lock: resets the VM's memory and the guest's own view of it.</summary>
    private void PowerOn()
    {
        Vm.Memory.Reset();
        _free.Clear();
        _balloon.Clear();
        _used.Clear();
        Array.Clear(_generation);
        for (int frame = 0; frame < _ramPages; frame++) _free.PushTail(frame);
        _needed = 0;
        _bootedAt = Stopwatch.GetTimestamp();
    }

    /// <summary>Under the guest lock: publishes the figures; true when the balloon or the demand changed.</summary>
    private bool Publish()
    {
        var status = new BalloonDriverStatus(_balloon.Count, _free.Count, _used.Count, Math.Max(_used.Count, _needed));
        var counters = new SimulatedGuestCounters(_ticks, _written, _checked, _contentErrors, _allocationFailures, _balloonErrors, _inflated, _deflated);
        lock (_figuresLock)
        {
            bool changed = status.BalloonedPages != _status.BalloonedPages || status.WantedPages != _status.WantedPages;
            _status = status;
            _counters = counters;
            return changed;
        }
    }

    private static ulong AddressOf(int frame) => (ulong)frame << Paging.PageShift;

    /// <summary>Stops the guest's thread and detaches its driver from the VM's balloon.</summary>
    public void Dispose()
    {
        _loop.Dispose();
        Vm.Balloon.Detach();
    }

    /// <inheritdoc/>
    public override string ToString() => $"guest on {Vm}";
}
