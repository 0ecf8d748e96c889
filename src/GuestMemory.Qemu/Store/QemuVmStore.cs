using System.Text.RegularExpressions;

namespace GuestMemory.Qemu;

/// <summary>
/// A store of suspended QEMU VMs: GuestMemory as QEMU's migration peer. It receives VMs that QEMU
/// migrates to it (<see cref="Receive"/>), each as a GuestMemory VM with one RAM range per QEMU RAM block
/// and its device state kept beside it; keeps them deduplicated (page fusion in memory, each distinct
/// content once and zstd-compressed in the folder), persists them so they survive a restart, and sends
/// them back to a QEMU started with <c>-incoming</c> (<see cref="ResumeAsync"/>), into a guest it starts
/// itself, whose RAM it writes directly (<see cref="ResumeGuestAsync"/>), or to another store
/// (<c>MoveAsync</c>). See docs/qemu-store.md.
/// </summary>
/// <remarks>
/// <para><b>Nothing half done.</b> A VM is listed only once its whole stream was read and (with a folder)
/// its files are on disk; a broken stream destroys the VM it was filling, so its pages go back and
/// <see cref="GlobalMemoryManager.Verify"/> stays clean.</para>
/// <para><b>Locks.</b> <c>_disk</c> serialises every change of the folder and of the content index
/// (<c>_keys</c>, <c>_nextSegment</c>; <c>_segments</c> is changed holding both locks and read holding either);
/// <c>_lock</c> guards <c>_vms</c>, <c>_reserved</c>
/// and each VM's reader count. Order: <c>_disk</c> before <c>_lock</c>. Nothing is called out while
/// <c>_lock</c> is held (no GuestMemory call, no I/O); the GuestMemory calls made while <c>_disk</c> is held
/// (reading a VM's pages, destroying it) never call back into the store. Streams are read and written
/// outside both locks. <c>_guestStarts</c> (a semaphore of its own) counts the relays that hold a started
/// guest before their VM has arrived.</para>
/// </remarks>
public sealed partial class QemuVmStore : IDisposable
{
    private static readonly Regex NamePattern = new("^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", RegexOptions.CultureInvariant);
    private readonly Lock _lock = new();
    private readonly SemaphoreSlim _disk = new(1, 1);
    private readonly Dictionary<string, StoredVm> _vms = new(StringComparer.Ordinal);
    private readonly HashSet<string> _reserved = new(StringComparer.Ordinal);
    private readonly Dictionary<PageKey, ulong> _keys = [];
    private readonly Dictionary<int, PageSegment> _segments = [];
    private readonly FileStream? _folderLock;
    private int _nextSegment;
    private bool _disposed;

    private QemuVmStore(GlobalMemoryManager gmm, QemuStoreOptions options, FileStream? folderLock)
    {
        Gmm = gmm;
        Options = options;
        _folderLock = folderLock;
    }

    /// <summary>The host memory manager the VMs live in.</summary>
    public GlobalMemoryManager Gmm { get; }

    /// <summary>How it keeps VMs.</summary>
    public QemuStoreOptions Options { get; }

    private string? Folder => Options.Directory;
    private bool Resident => Folder == null || Options.KeepResident;

    /// <summary>
    /// Opens a store on <paramref name="gmm"/>: with a folder, takes its lock (unless read-only) and loads the
    /// VMs stored there (resident again when <see cref="QemuStoreOptions.KeepResident"/>).
    /// </summary>
    /// <exception cref="QemuException"><see cref="QemuError.InvalidArgument"/>, <see cref="QemuError.StoreBusy"/>, <see cref="QemuError.StoreCorrupt"/>.</exception>
    public static QemuVmStore Open(GlobalMemoryManager gmm, QemuStoreOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(gmm);
        options ??= new QemuStoreOptions();
        if (options.SharingDomain is null) throw new QemuException(QemuError.InvalidArgument, "SharingDomain must not be null");
        if (options.Directory == null && options.ReadOnly) throw new QemuException(QemuError.InvalidArgument, "a read-only store needs a folder");
        FileStream? folderLock = null;
        if (options.Directory != null)
        {
            if (options.ReadOnly && !Directory.Exists(options.Directory)) throw new QemuException(QemuError.InvalidArgument, $"the store folder {options.Directory} does not exist");
            try { Directory.CreateDirectory(options.Directory); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new QemuException(QemuError.InvalidArgument, $"the store folder {options.Directory} cannot be made: {e.Message}", e);
            }
            if (!options.ReadOnly) folderLock = StoreFolder.Lock(options.Directory);
        }
        var store = new QemuVmStore(gmm, options, folderLock);
        try
        {
            if (options.Directory != null) store.Load();
            return store;
        }
        catch
        {
            store.Dispose();
            throw;
        }
    }

    /// <summary>Checks a stored VM's name: 1-64 of letters, digits, '_', '.' and '-', starting with a letter or digit (it names its files).</summary>
    /// <exception cref="QemuException"><see cref="QemuError.InvalidArgument"/>.</exception>
    public static void ValidateName(string name)
    {
        if (name is null || !NamePattern.IsMatch(name))
            throw new QemuException(QemuError.InvalidArgument, $"a stored VM's name is 1-64 of letters, digits, '_', '.' and '-', starting with a letter or digit, not '{name}'");
    }

    /// <summary>The stored VMs with their figures, by name.</summary>
    public IReadOnlyList<StoredVmInfo> List()
    {
        StoredVm[] vms;
        lock (_lock) vms = [.. _vms.Values.OrderBy(v => v.Name, StringComparer.Ordinal)];
        var counts = new Dictionary<ulong, int>();
        foreach (StoredVm vm in vms)
            if (vm.Refs != null)
                foreach (ulong r in vm.Refs)
                    if (r != 0) counts[r] = counts.GetValueOrDefault(r) + 1;
        return [.. vms.Select(vm => Figures(vm, counts))];
    }

    /// <summary>A free name: <paramref name="prefix"/>-1, -2, ... (for VMs that arrive without one).</summary>
    public string NextName(string prefix = "vm")
    {
        lock (_lock)
            for (int i = 1; ; i++)
                if (!_vms.ContainsKey($"{prefix}-{i}") && !_reserved.Contains($"{prefix}-{i}")) return $"{prefix}-{i}";
    }

    private StoredVmInfo Figures(StoredVm vm, Dictionary<ulong, int> counts)
    {
        long nonZero, alone;
        if (vm.Refs != null)
        {
            nonZero = vm.Refs.LongCount(r => r != 0);
            alone = vm.Refs.LongCount(r => r != 0 && counts[r] == 1);
        }
        else
        {
            GuestMemory.Phys.GuestMemoryStatistics s = vm.Vm!.Memory.GetStatistics();
            alone = s.AllocatedPages + s.WriteMonitoredPages;
            nonZero = alone + s.SharedPages;
        }
        long segmentBytes = 0;
        if (vm.Segment >= 0)
            lock (_lock) segmentBytes = _segments.TryGetValue(vm.Segment, out PageSegment? seg) ? seg.FileBytes : 0;
        return new StoredVmInfo(vm.Name, vm.State.Machine, vm.State.RamBytes, nonZero, alone, nonZero - alone,
            vm.ManifestBytes + segmentBytes, vm.Vm != null, vm.State.Devices.Count) { MainRamBytes = vm.State.Blocks[0].Length };
    }

    /// <summary>
    /// Deletes a stored VM: its GuestMemory VM (its pages go back; the Gmm compacts), its manifest, and the
    /// page files no other stored VM refers to.
    /// </summary>
    /// <exception cref="QemuException"><see cref="QemuError.StoredVmNotFound"/>; <see cref="QemuError.InvalidArgument"/> while it is being resumed or moved, or on a read-only store.</exception>
    public void Delete(string name)
    {
        ValidateName(name);
        RequireWritable();
        _disk.Wait();
        try
        {
            StoredVm vm;
            lock (_lock)
            {
                vm = Find(name);
                if (vm.Readers > 0) throw new QemuException(QemuError.InvalidArgument, $"{name} is being resumed or moved; delete it afterwards");
                _vms.Remove(name);
            }
            if (Folder != null) RemoveFiles(vm);
            vm.Vm?.Dispose();
        }
        finally
        {
            _disk.Release();
        }
    }

    private StoredVm Find(string name) =>
        _vms.TryGetValue(name, out StoredVm? vm) ? vm : throw new QemuException(QemuError.StoredVmNotFound, $"no stored VM named '{name}'");

    /// <summary>Takes a stored VM for reading (a resume, a move): it cannot be deleted until <see cref="Release"/>.</summary>
    private StoredVm Acquire(string name)
    {
        ValidateName(name);
        lock (_lock)
        {
            StoredVm vm = Find(name);
            vm.Readers++;
            return vm;
        }
    }

    private void Release(StoredVm vm)
    {
        lock (_lock) vm.Readers--;
    }

    /// <summary>Reserves a name for a VM being received (so two arrivals cannot take one name).</summary>
    private void Reserve(string name)
    {
        ValidateName(name);
        RequireWritable();
        lock (_lock)
        {
            if (_vms.ContainsKey(name) || !_reserved.Add(name))
                throw new QemuException(QemuError.StoredVmExists, $"a stored VM named '{name}' exists or is arriving");
        }
    }

    private void Unreserve(string name)
    {
        lock (_lock) _reserved.Remove(name);
    }

    private void RequireWritable()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (Options.ReadOnly) throw new QemuException(QemuError.InvalidArgument, "this store was opened read-only");
    }

    /// <summary>Destroys the resident VMs (their pages go back to the host) and releases the folder. Stored files stay.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        StoredVm[] vms;
        lock (_lock) vms = [.. _vms.Values];
        foreach (StoredVm vm in vms)
            if (vm.Vm is { IsDestroyed: false } v) v.Dispose();
        _folderLock?.Dispose();
    }
}
