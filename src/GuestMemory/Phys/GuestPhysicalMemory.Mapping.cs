using GuestMemory.Gmm;
using GuestMemory.Host;

namespace GuestMemory.Phys;

public sealed unsafe partial class GuestPhysicalMemory
{
    /// <summary>Shared pages that read mappings hold an extra reference to (page id → mappings). VM lock.</summary>
    private readonly Dictionary<uint, int> _mappingReferences = [];

    /// <summary>
    /// Maps one page for reading (seed: a read-only mapping lock). While mapped, the page is not shared,
    /// moved, monitored or freed. A zero or ballooned page maps the zero page. A shared page stays
    /// readable through the mapping even if the guest writes the page meanwhile (the mapping keeps its
    /// own reference; the guest's write then goes to a private copy).
    /// </summary>
    /// <exception cref="GmmException"><see cref="GmmError.UnalignedAddress"/>, <see cref="GmmError.AddressNotMapped"/>,
    /// <see cref="GmmError.NotRam"/> (MMIO), <see cref="GmmError.PageLocked"/> (too many mappings).</exception>
    public ReadMapping MapForRead(ulong address)
    {
        CheckAligned(address);
        using (_lock.Enter())
        {
            (MemoryRange range, int index) = FindMappable(address);
            ref ulong slot = ref range.Entries[index];
            ulong e = slot;
            if (!GuestPage.HasHostPage(e)) return new ReadMapping(null, null, 0, PageId.Nil, ZeroPage.Span);
            if (GuestPage.ReadLocks(e) == GuestPage.MaxMappings) throw new GmmException(GmmError.PageLocked, $"page {address:x} has {GuestPage.MaxMappings} read mappings already");
            PageId page = GuestPage.Page(e), extra = PageId.Nil;
            if (GuestPage.State(e) == GuestPageState.Shared)
            {
                _gmm.AddSharedReference(Vm, page);
                extra = page;
                _mappingReferences[page.Value] = _mappingReferences.GetValueOrDefault(page.Value) + 1;
            }
            Publish(ref slot, e, GuestPage.AddReadLock(e, +1));
            _host.AddMappingUse();
            return new ReadMapping(this, range, index, extra, new ReadOnlySpan<byte>(_host.PageAddress(page), Paging.PageSize));
        }
    }

    /// <summary>
    /// Maps one page for writing (seed: a writable mapping lock): the page is made writable first (a zero
    /// page gets a host page, a shared page is copied), and stays put until the mapping is disposed.
    /// </summary>
    /// <exception cref="GmmException">As <see cref="MapForRead"/>, plus <see cref="GmmError.PageBallooned"/>,
    /// <see cref="GmmError.NotRam"/> for ROM that ignores writes, and the allocation limits.</exception>
    public WriteMapping MapForWrite(ulong address)
    {
        CheckAligned(address);
        using (_lock.Enter())
        {
            (MemoryRange range, int index) = FindMappable(address);
            ref ulong slot = ref range.Entries[index];
            if (range.Type == GuestPageType.Rom && range.RomMode == RomWriteMode.Ignore)
                throw new GmmException(GmmError.NotRam, $"page {address:x} is ROM that ignores writes");
            if (GuestPage.WriteLocks(slot) == GuestPage.MaxMappings) throw new GmmException(GmmError.PageLocked, $"page {address:x} has {GuestPage.MaxMappings} write mappings already");
            if (range.Type == GuestPageType.Ram)
            {
                PrepareWrite(address, Paging.PageSize);
                MakeWritable(range, index, default, out _);
            }
            ulong e = slot;
            Publish(ref slot, e, GuestPage.AddWriteLock(e, +1) | GuestPage.WrittenToFlag | GuestPage.DirtyFlag);
            _host.AddMappingUse();
            return new WriteMapping(this, range, index, HostPage(e));
        }
    }

    private (MemoryRange Range, int Index) FindMappable(ulong address)
    {
        ThrowIfDestroyed();
        MemoryRange range = FindRange(address) ?? throw NotMapped(address, Paging.PageSize);
        if (range.Type == GuestPageType.Mmio) throw new GmmException(GmmError.NotRam, $"page {address:x} is MMIO and cannot be mapped");
        return (range, (int)((address - range.Start) >> Paging.PageShift));
    }

    private static void CheckAligned(ulong address)
    {
        if ((address & Paging.PageOffsetMask) != 0) throw new GmmException(GmmError.UnalignedAddress, $"{address:x} is not page aligned");
    }

    internal void ReleaseReadMapping(MemoryRange range, int index, PageId extraReference)
    {
        using (_lock.Enter())
        {
            // A VM destroyed by the manager's Dispose let its mapped pages go already.
            if (!_released)
            {
                ref ulong slot = ref range.Entries[index];
                Publish(ref slot, slot, GuestPage.AddReadLock(slot, -1));
                if (!extraReference.IsNil)
                {
                    if (--_mappingReferences[extraReference.Value] == 0) _mappingReferences.Remove(extraReference.Value);
                    _deferred.Retire(Vm, extraReference);
                }
            }
        }
        _host.ReleaseMappingUse();
    }

    internal void ReleaseWriteMapping(MemoryRange range, int index)
    {
        using (_lock.Enter())
        {
            ref ulong slot = ref range.Entries[index];
            // Whatever went through the mapping counts as written (fusion and live save must see it).
            if (!_released) Publish(ref slot, slot, GuestPage.AddWriteLock(slot, -1) | GuestPage.WrittenToFlag | GuestPage.DirtyFlag);
        }
        _host.ReleaseMappingUse();
    }
}

/// <summary>A read mapping of one guest page: read <see cref="Span"/>, then dispose to unlock the page.</summary>
public ref struct ReadMapping
{
    private GuestPhysicalMemory? _owner;
    private readonly MemoryRange? _range;
    private readonly int _index;
    private readonly PageId _extraReference;

    internal ReadMapping(GuestPhysicalMemory? owner, MemoryRange? range, int index, PageId extraReference, ReadOnlySpan<byte> span)
    {
        _owner = owner;
        _range = range;
        _index = index;
        _extraReference = extraReference;
        Span = span;
    }

    /// <summary>The page's 4 KiB, valid until <see cref="Dispose"/>.</summary>
    public ReadOnlySpan<byte> Span { get; }

    /// <summary>Unlocks the page. Do not use <see cref="Span"/> afterwards.</summary>
    public void Dispose()
    {
        _owner?.ReleaseReadMapping(_range!, _index, _extraReference);
        _owner = null;
    }
}

/// <summary>A write mapping of one guest page: read and write <see cref="Span"/>, then dispose to unlock the page.</summary>
public ref struct WriteMapping
{
    private GuestPhysicalMemory? _owner;
    private readonly MemoryRange _range;
    private readonly int _index;

    internal WriteMapping(GuestPhysicalMemory owner, MemoryRange range, int index, Span<byte> span)
    {
        _owner = owner;
        _range = range;
        _index = index;
        Span = span;
    }

    /// <summary>The page's 4 KiB, valid until <see cref="Dispose"/>.</summary>
    public Span<byte> Span { get; }

    /// <summary>Unlocks the page. Do not use <see cref="Span"/> afterwards.</summary>
    public void Dispose()
    {
        _owner?.ReleaseWriteMapping(_range, _index);
        _owner = null;
    }
}
