using GuestMemory.Balloon;
using GuestMemory.Compaction;
using GuestMemory.Diagnostics;
using GuestMemory.Fusion;
using GuestMemory.Gmm;
using GuestMemory.Host;
using GuestMemory.Phys;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace GuestMemory;

/// <summary>
/// The entry point: one host's guest memory. It owns the Gmm (<see cref="Pages"/>, with the seed-shaped
/// entry points for hosts that drive it directly), the VMs and the pages waiting for readers to move on.
/// </summary>
/// <example>
/// <code>
/// using var gmm = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = 8L &lt;&lt; 30 });
/// using var vm = gmm.CreateVm(new VmOptions { Name = "web-1", RamSize = 1L &lt;&lt; 30 });
/// vm.Memory.Write(0x10_0000, data);
/// gmm.Verify();
/// </code>
/// </example>
/// <remarks>The VM list is guarded by <c>_vmsLock</c>, the balloon controller slot is swapped with
/// <see cref="Interlocked"/>; everything else by the layers' own locks.</remarks>
public sealed partial class GlobalMemoryManager : IDisposable
{
    private readonly RankedLock _vmsLock = new(LockRank.Manager);
    private readonly List<VirtualMachine> _vms = [];
    private static int s_managersCreated;
    private readonly ILogger _log;
    private bool _disposed;

    /// <summary>Creates a manager over its own range of host memory.</summary>
    public GlobalMemoryManager(GmmOptions? options = null, ILoggerFactory? loggerFactory = null)
    {
        Pages = new PageManager(options ?? new GmmOptions());
        Name = Pages.Options.Name ?? $"gmm-{Interlocked.Increment(ref s_managersCreated)}";
        Deferred = new DeferredFrees(Pages.Port);
        LoggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _log = LoggerFactory.CreateLogger<GlobalMemoryManager>();
        Fusion = new PageFusion(this);
        Compactor = new Compactor(this);
        Metrics = new GuestMemoryMetrics(this, Pages.Options.MeterFactory);
    }

    /// <summary>The manager's name (<see cref="GmmOptions.Name"/>, or the default given to it): labels its metrics.</summary>
    public string Name { get; }

    /// <summary>The manager's figures as System.Diagnostics.Metrics instruments (meter "GuestMemory", attribute <c>gmm.manager.name</c>).</summary>
    public GuestMemoryMetrics Metrics { get; }

    /// <summary>Compaction: empties sparse chunks and gives them back to the host.</summary>
    public Compactor Compactor { get; }

    /// <summary>Whether destroying a VM compacts right away (or wakes the background compactor).</summary>
    public bool CompactOnVmShutdown { get; set; } = true;

    /// <summary>Page fusion: finds identical and zero pages and shares them copy-on-write.</summary>
    public PageFusion Fusion { get; }

    /// <summary>
    /// The balloon controller of this manager, while one exists (at most one: two would fight over the
    /// same targets). Guest drivers wake it through here when they need memory back.
    /// </summary>
    public BalloonController? BalloonController => Volatile.Read(ref _balloonController);

    private BalloonController? _balloonController;

    /// <summary>Makes <paramref name="controller"/> this manager's one balloon controller, or throws.</summary>
    internal void RegisterBalloonController(BalloonController controller)
    {
        if (Interlocked.CompareExchange(ref _balloonController, controller, null) != null)
            throw new GmmException(GmmError.InvalidArgument, "this manager already has a balloon controller; dispose it first");
    }

    internal void UnregisterBalloonController(BalloonController controller) =>
        Interlocked.CompareExchange(ref _balloonController, null, controller);

    /// <summary>The Global Memory Manager proper: chunks, pages, accounts (seed: GMMR0).</summary>
    public PageManager Pages { get; }

    /// <summary>Where the layers log.</summary>
    public ILoggerFactory LoggerFactory { get; }

    internal DeferredFrees Deferred { get; }

    /// <summary>The live VMs.</summary>
    public IReadOnlyList<VirtualMachine> Vms { get { using (_vmsLock.EnterScope()) return _vms.ToArray(); } }

    /// <summary>The Gmm's global figures.</summary>
    public GmmStatistics Statistics => Pages.GetStatistics();

    /// <summary>
    /// Creates a VM with its RAM on the zero page. Its base reservation is its RAM plus one batch of
    /// handy pages (ROM registered later adds its own pages). A create that fails leaves the manager
    /// exactly as it was (nothing registered, nothing reserved).
    /// </summary>
    /// <exception cref="GmmException"><see cref="GmmError.InvalidArgument"/> (options the VM cannot have),
    /// <see cref="GmmError.VmNameInUse"/>, <see cref="GmmError.ReservationDeclined"/>, <see cref="GmmError.TooManyVms"/>,
    /// <see cref="GmmError.HostOutOfMemory"/> (no address space for its page entries).</exception>
    /// <exception cref="ObjectDisposedException">The manager is disposed.</exception>
    public VirtualMachine CreateVm(VmOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        VirtualMachine vm;
        using (_vmsLock.EnterScope())
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_vms.Exists(v => v.Name == options.Name))
                throw new GmmException(GmmError.VmNameInUse, $"a VM named '{options.Name}' exists already");
            long ramPages = options.RamSize >> Paging.PageShift;
            VmHandle handle = Pages.RegisterVm(options.Name, new AccountPages(ramPages + HandyPages.Capacity, 0, 0), options.Policy, options.Priority, managed: true);
            try
            {
                var memory = new GuestPhysicalMemory(handle, Pages.Port, Pages.Host, Deferred, pages => GrowReservation(handle, pages));
                memory.RegisterRam(0, (ulong)options.RamSize, "ram", reserve: false);
                vm = new VirtualMachine(this, options, handle, memory);
            }
            catch (Exception e)
            {
                Pages.DestroyVmCore(handle); // nothing of it is left: no ghost reservation
                if (e is OutOfMemoryException) throw new GmmException(GmmError.HostOutOfMemory, $"no memory for the metadata of {options.Name}: {e.Message}", e);
                throw;
            }
            _vms.Add(vm);
        }
        _log.LogInformation("created {Vm} with {RamMib} MiB of RAM", vm, options.RamSize >> 20);
        return vm;
    }

    /// <summary>Destroys a VM (same as disposing it). Nothing happens for a VM already destroyed.</summary>
    /// <exception cref="GmmException"><see cref="GmmError.PageLocked"/> while a page of it is mapped (nothing changes).</exception>
    public void DestroyVm(VirtualMachine vm) => DestroyVm(vm, force: false);

    private void DestroyVm(VirtualMachine vm, bool force)
    {
        ArgumentNullException.ThrowIfNull(vm);
        using (_vmsLock.EnterScope())
        {
            if (!_vms.Contains(vm)) return;
            vm.Memory.Destroy(force);
            Pages.DestroyVmCore(vm.Handle);
            _vms.Remove(vm);
        }
        _log.LogInformation("destroyed {Vm}", vm);
        if (CompactOnVmShutdown && !_disposed) Compactor.OnVmDestroyed();
    }

    /// <summary>Gives every page that waits for readers back to the Gmm now (blocks until readers move on).</summary>
    public int ReclaimRetiredPages() => Deferred.ReclaimAll();

    /// <summary>
    /// Recounts the Gmm and every VM's memory against it; returns each mismatch (empty when consistent).
    /// Meant for quiescent moments (tests, tools): concurrent changes may show as transient mismatches.
    /// </summary>
    public IReadOnlyList<string> FindInconsistencies()
    {
        var problems = new List<string>(Pages.FindInconsistencies());
        foreach (VirtualMachine vm in Vms) vm.Memory.CheckAgainst(Pages, problems);
        return problems;
    }

    /// <summary>Throws <see cref="GmmError.ConsistencyCheckFailed"/> listing every mismatch <see cref="FindInconsistencies"/> finds.</summary>
    public void Verify()
    {
        IReadOnlyList<string> problems = FindInconsistencies();
        if (problems.Count > 0) throw new GmmException(GmmError.ConsistencyCheckFailed, string.Join(Environment.NewLine, problems));
    }

    /// <summary>
    /// Stops the balloon controller, fusion and compaction, destroys every VM and releases the host memory.
    /// Afterwards every call through a VM, its memory or an accessor fails with <see cref="GmmError.VmDestroyed"/>,
    /// and the manager's own calls with <see cref="ObjectDisposedException"/>. A page mapping still held
    /// keeps the host range mapped until it is disposed (its span then reads what the page last held).
    /// </summary>
    public void Dispose()
    {
        using (_vmsLock.EnterScope())
        {
            if (_disposed) return;
            _disposed = true;
        }
        Metrics.Dispose();
        BalloonController?.Dispose();
        Fusion.Stop();
        Compactor.Dispose();
        VirtualMachine[] vms = [.. Vms];
        // First no VM may access or allocate any more, then each lets its pages go: a page one VM frees
        // during the teardown can never reach another VM's guest or mapping.
        foreach (VirtualMachine vm in vms) vm.Memory.Shutdown();
        foreach (VirtualMachine vm in vms)
        {
            if (vm.Memory.HasMappings) _log.LogWarning("{Vm} still had mapped pages at shutdown; the host memory stays mapped until they are disposed", vm);
            DestroyVm(vm, force: true);
        }
        Pages.Dispose();
    }

    private bool GrowReservation(VmHandle handle, long pages)
    {
        try
        {
            AccountPages current = Pages.GetVmStatistics(handle).Reserved;
            Pages.UpdateReservation(handle, current with { Base = current.Base + pages });
            return true;
        }
        catch (GmmException e) when (e.Error == GmmError.ReservationDeclined)
        {
            return false;
        }
    }
}
