using GuestMemory.Gmm;
using GuestMemory.Host;
using GuestMemory.Requests;

namespace GuestMemory.Phys;

/// <summary>
/// One VM's guest-physical memory (seed: PGM, physical side): registered RAM, ROM and MMIO ranges, one
/// packed 8-byte entry per guest page, the zero page, handy pages, read/write/map APIs, copy-on-write,
/// reset, and the request queue through which other layers change its pages.
/// </summary>
/// <remarks>
/// <para><b>What protects what.</b></para>
/// <list type="bullet">
/// <item>The VM lock (<see cref="Lock"/>) guards every change of a page entry, the handy pages, the
/// state counters and the range list. Entries are written with <see cref="Volatile.Write(ref ulong, ulong)"/>.</item>
/// <item>The lock-free fast paths (a read of a page that has a host page, a write to an Allocated RAM
/// page) only load entries, inside an <see cref="AccessEpoch"/> section that covers the whole copy.</item>
/// <item>A host page an entry stops pointing at is handed to <see cref="DeferredFrees"/>, which gives it
/// back to the Gmm only after every section that began before the change has ended. So a vCPU thread
/// that loaded the old entry finishes its copy on memory that nobody else owns yet.</item>
/// <item>A write that races with an entry change cannot be lost: a page leaves Allocated for another
/// backing only through Write-Monitored (armed under the lock), and whoever armed it waits for every
/// section that began before the arming before it reads the page (fusion, compaction, live save). A
/// later write finds the page monitored, takes the lock and turns it back to Allocated, which the final
/// compare-and-replace under the lock sees.</item>
/// <item>The range list is copy-on-write (an immutable array swapped under the lock); the translation
/// cache (<c>_lastRange</c>) is a plain reference, so a stale value is merely a cache miss.</item>
/// <item>Mapping locks live in the entry: while a page is mapped, its entry does not move to another host
/// page, is not shared, monitored or freed.</item>
/// </list>
/// <para>Lock order: this VM's lock, then <see cref="DeferredFrees"/>, then the Gmm. Never wait for
/// readers (<see cref="AccessEpoch.WaitForReaders"/>) while holding the VM lock.</para>
/// </remarks>
public sealed unsafe partial class GuestPhysicalMemory
{
    /// <summary>Guest frames must fit the Gmm's 40-bit field: guest-physical addresses below 2^52.</summary>
    public const ulong MaxAddress = 1UL << (40 + Paging.PageShift);

    private readonly IGmm _gmm;
    private readonly HostMemory _host;
    private readonly DeferredFrees _deferred;
    private readonly HandyPages _handy;
    private readonly VmLock _lock = new();
    private readonly long[] _stateCounts = new long[5];
    private MemoryRange[] _ranges = [];
    private MemoryRange? _lastRange;
    private volatile bool _destroyed;
    /// <summary>Every page has gone back to the Gmm (after <see cref="Destroy"/>). VM lock.</summary>
    private bool _released;
    // The fast path's view of the RAM range at guest address 0: its pinned entries, its page count
    // (set to 0 at destroy, which sends every access to the checked slow path) and the host base.
    private ulong* _fastEntries;
    private ulong _fastPages;
    private readonly byte* _hostBase;
    private long _copyOnWriteBreaks;
    private long _firstWrites;

    internal GuestPhysicalMemory(VmHandle vm, IGmm gmm, HostMemory host, DeferredFrees deferred, Func<long, bool> growReservation)
    {
        Vm = vm;
        _gmm = gmm;
        _host = host;
        _deferred = deferred;
        _handy = new HandyPages(gmm, vm);
        _hostBase = host.PageAddress(PageId.Nil);
        GrowReservation = growReservation;
    }

    /// <summary>The VM's handle in the Gmm.</summary>
    public VmHandle Vm { get; }

    /// <summary>The VM lock with its request queue (the seed's pgm critical section and VMReq).</summary>
    public VmLock Lock => _lock;

    /// <summary>Asks the owner to raise the VM's base reservation by n pages (ROM registration).</summary>
    private Func<long, bool> GrowReservation { get; }

    /// <summary>The registered ranges, sorted by address.</summary>
    public IReadOnlyList<MemoryRange> Ranges => Volatile.Read(ref _ranges);

    /// <summary>True once the VM has been destroyed; every access then fails with <see cref="GmmError.VmDestroyed"/>.</summary>
    public bool IsDestroyed => _destroyed;

    /// <summary>
    /// Registers guest RAM at [start, start + size): every page starts on the zero page. The VM's base
    /// reservation grows by the range's pages, so the guest can fill it.
    /// </summary>
    public MemoryRange RegisterRam(ulong start, ulong size, string name) => RegisterRam(start, size, name, reserve: true);

    /// <param name="start">First guest-physical address.</param>
    /// <param name="size">Bytes, page aligned.</param>
    /// <param name="name">A name for tools.</param>
    /// <param name="reserve">False only for the RAM the VM was created with, which its initial reservation covers.</param>
    internal MemoryRange RegisterRam(ulong start, ulong size, string name, bool reserve)
    {
        var range = new MemoryRange(name, CheckRange(start, size), size, GuestPageType.Ram);
        using (_lock.Enter())
        {
            ThrowIfDestroyed();
            CheckNoOverlap(range);
            if (reserve) Reserve(range.PageCount, "RAM");
            Insert(range);
            _stateCounts[(int)GuestPageState.Zero] += range.PageCount;
            if (start == 0)
            {
                fixed (ulong* entries = range.Entries) _fastEntries = entries; // pinned array: the address is stable
                Volatile.Write(ref _fastPages, (ulong)range.PageCount);
            }
        }
        return range;
    }

    /// <summary>
    /// Registers ROM at <paramref name="start"/> holding <paramref name="image"/> (the last page padded with
    /// zeros). Its pages are allocated in one call, without zeroing, since they are filled at once; the
    /// VM's reservation grows by the ROM's pages.
    /// </summary>
    public MemoryRange RegisterRom(ulong start, ReadOnlySpan<byte> image, RomWriteMode mode, string name)
    {
        if (image.IsEmpty) throw new GmmException(GmmError.InvalidRange, "a ROM image must not be empty");
        if (mode is not (RomWriteMode.Ignore or RomWriteMode.Shadow)) throw new GmmException(GmmError.InvalidArgument, $"unknown ROM write mode {mode}");
        ulong size = ((ulong)image.Length + Paging.PageOffsetMask) & ~(ulong)Paging.PageOffsetMask;
        var range = new MemoryRange(name, CheckRange(start, size), size, GuestPageType.Rom) { RomImage = image.ToArray(), RomMode = mode };
        using (_lock.Enter())
        {
            ThrowIfDestroyed();
            CheckNoOverlap(range);
            var pages = new PageDescriptor[range.PageCount];
            for (int i = 0; i < pages.Length; i++) pages[i].GuestFrame = (start >> Paging.PageShift) + (ulong)i;
            Reserve(pages.Length, "ROM");
            try
            {
                _gmm.AllocatePages(Vm, GmmAccount.Base, pages, zero: false);
            }
            catch
            {
                GrowReservation(-pages.Length);
                throw;
            }
            for (int i = 0; i < pages.Length; i++)
                range.Entries[i] = GuestPage.Make(GuestPageType.Rom, GuestPageState.Allocated, pages[i].Page);
            FillRom(range);
            Insert(range);
            _stateCounts[(int)GuestPageState.Allocated] += range.PageCount;
        }
        return range;
    }

    /// <summary>Registers an MMIO range whose accesses go to <paramref name="handler"/>.</summary>
    public MemoryRange RegisterMmio(ulong start, ulong size, IMmioHandler handler, string name)
    {
        ArgumentNullException.ThrowIfNull(handler);
        var range = new MemoryRange(name, CheckRange(start, size), size, GuestPageType.Mmio) { Mmio = handler };
        using (_lock.Enter())
        {
            ThrowIfDestroyed();
            Insert(range);
        }
        return range;
    }

    /// <summary>The state of the page that holds <paramref name="address"/>.</summary>
    public GuestPageInfo GetPage(ulong address)
    {
        ThrowIfDestroyed();
        MemoryRange range = FindRange(address) ?? throw NotMapped(address, 1);
        if (range.Type == GuestPageType.Mmio) return new GuestPageInfo(GuestPageType.Mmio, GuestPageState.Zero, PageId.Nil, false, false, 0, 0);
        ulong e = Volatile.Read(ref range.Entries[(address - range.Start) >> Paging.PageShift]);
        return new GuestPageInfo(GuestPage.Type(e), GuestPage.State(e), GuestPage.Page(e), GuestPage.IsWrittenTo(e), GuestPage.IsDirty(e), GuestPage.ReadLocks(e), GuestPage.WriteLocks(e));
    }

    /// <summary>A snapshot of the page counts and events of this VM.</summary>
    public GuestMemoryStatistics GetStatistics()
    {
        using (_lock.Enter())
        {
            return new GuestMemoryStatistics
            {
                RamPages = Ranges.Where(r => r.Type == GuestPageType.Ram).Sum(r => r.PageCount),
                RomPages = Ranges.Where(r => r.Type == GuestPageType.Rom).Sum(r => r.PageCount),
                ZeroPages = _stateCounts[(int)GuestPageState.Zero],
                AllocatedPages = _stateCounts[(int)GuestPageState.Allocated],
                WriteMonitoredPages = _stateCounts[(int)GuestPageState.WriteMonitored],
                SharedPages = _stateCounts[(int)GuestPageState.Shared],
                BalloonedPages = _stateCounts[(int)GuestPageState.Ballooned],
                HandyPages = _handy.Count,
                HandyRefills = _handy.Refills,
                FirstWrites = _firstWrites,
                CopyOnWriteBreaks = _copyOnWriteBreaks,
            };
        }
    }

    // ---- ranges ----

    private static ulong CheckRange(ulong start, ulong size)
    {
        if (size == 0) throw new GmmException(GmmError.InvalidRange, "a range must not be empty");
        if (((start | size) & Paging.PageOffsetMask) != 0) throw new GmmException(GmmError.InvalidRange, $"range [{start:x}, +{size:x}) is not page aligned");
        if (start >= MaxAddress || size > MaxAddress - start) throw new GmmException(GmmError.InvalidRange, $"range [{start:x}, +{size:x}) reaches past the 2^52 guest-physical limit");
        if ((size >> Paging.PageShift) > int.MaxValue) throw new GmmException(GmmError.InvalidRange, $"range of {size >> Paging.PageShift} pages is too large for one range");
        return start;
    }

    private void Reserve(long pages, string what)
    {
        if (!GrowReservation(pages)) throw new GmmException(GmmError.ReservationDeclined, $"no room to reserve {pages} {what} pages");
    }

    private void CheckNoOverlap(MemoryRange range)
    {
        foreach (MemoryRange other in _ranges)
            if (range.Start < other.End && other.Start < range.End)
                throw new GmmException(GmmError.InvalidRange, $"{range} overlaps {other}");
    }

    private void Insert(MemoryRange range)
    {
        CheckNoOverlap(range);
        MemoryRange[] next = [.. _ranges, range];
        Array.Sort(next, (a, b) => a.Start.CompareTo(b.Start));
        Volatile.Write(ref _ranges, next);
    }

    /// <summary>The range holding <paramref name="address"/>, trying the last RAM/ROM range first.</summary>
    private MemoryRange? FindRange(ulong address)
    {
        MemoryRange? range = _lastRange;
        if (range != null && address - range.Start < range.Size) return range;
        MemoryRange[] ranges = Volatile.Read(ref _ranges);
        int lo = 0, hi = ranges.Length - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            MemoryRange r = ranges[mid];
            if (address < r.Start) hi = mid - 1;
            else if (address >= r.End) lo = mid + 1;
            else
            {
                if (r.Type != GuestPageType.Mmio) _lastRange = r;
                return r;
            }
        }
        return null;
    }

    private void FillRom(MemoryRange range)
    {
        byte[] image = range.RomImage!;
        for (int i = 0; i < range.PageCount; i++)
        {
            var page = new Span<byte>(_host.PageAddress(GuestPage.Page(range.Entries[i])), Paging.PageSize);
            int offset = i * Paging.PageSize;
            int length = Math.Min(Paging.PageSize, image.Length - offset);
            image.AsSpan(offset, length).CopyTo(page);
            page[length..].Clear();
        }
    }

    private void ThrowIfDestroyed()
    {
        if (_destroyed) throw new GmmException(GmmError.VmDestroyed, $"{Vm} has been destroyed");
    }

    private static GmmException NotMapped(ulong address, long length) =>
        new(GmmError.AddressNotMapped, $"[{address:x}, +{length:x}) is not entirely inside registered ranges");
}

/// <summary>What one guest page is and where it lives, as seen at one moment.</summary>
public readonly record struct GuestPageInfo(
    GuestPageType Type, GuestPageState State, PageId HostPage, bool WrittenTo, bool Dirty, int ReadMappings, int WriteMappings);

/// <summary>A snapshot of one VM's guest pages and events.</summary>
public sealed record GuestMemoryStatistics
{
    /// <summary>Pages of RAM ranges.</summary>
    public long RamPages { get; init; }
    /// <summary>Pages of ROM ranges.</summary>
    public long RomPages { get; init; }
    /// <summary>Guest pages on the zero page.</summary>
    public long ZeroPages { get; init; }
    /// <summary>Guest pages with a private host page, not monitored.</summary>
    public long AllocatedPages { get; init; }
    /// <summary>Guest pages with a private host page, write-monitored.</summary>
    public long WriteMonitoredPages { get; init; }
    /// <summary>Guest pages backed by a shared host page.</summary>
    public long SharedPages { get; init; }
    /// <summary>Guest pages given to the balloon.</summary>
    public long BalloonedPages { get; init; }
    /// <summary>Handy pages at hand.</summary>
    public int HandyPages { get; init; }
    /// <summary>Batched handy-page calls made to the Gmm.</summary>
    public long HandyRefills { get; init; }
    /// <summary>Zero pages that got their own host page on a first write.</summary>
    public long FirstWrites { get; init; }
    /// <summary>Writes to shared pages that made a private copy.</summary>
    public long CopyOnWriteBreaks { get; init; }
}
