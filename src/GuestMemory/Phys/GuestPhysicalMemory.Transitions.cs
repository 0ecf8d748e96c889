using System.Runtime.CompilerServices;
using GuestMemory.Gmm;

namespace GuestMemory.Phys;

public sealed unsafe partial class GuestPhysicalMemory
{
    // Private pages retired by the running locked operation, and those whose frame the Gmm must forget (VM lock).
    private readonly List<PageId> _retiring = [];
    private readonly List<PageDescriptor> _framesToClear = [];

    /// <summary>
    /// Under the lock: makes the page an Allocated page this VM may write and returns its entry. A zero
    /// page takes a handy page, a shared page is copied into one (copy-on-write), a monitored page is
    /// unmonitored. When <paramref name="fullPage"/> is given it is copied into a new host page before
    /// the entry is published, so no other thread of the VM ever sees stale bytes and nothing needs
    /// zeroing; <paramref name="filled"/> then says the caller's data is already in place.
    /// </summary>
    private ulong MakeWritable(MemoryRange range, int index, ReadOnlySpan<byte> fullPage, out bool filled)
    {
        ref ulong slot = ref range.Entries[index];
        ulong e = slot;
        filled = false;
        ulong next;
        switch (GuestPage.State(e))
        {
            case GuestPageState.Allocated:
                return e;
            case GuestPageState.WriteMonitored:
                next = GuestPage.WithState(e, GuestPageState.Allocated) | GuestPage.WrittenToFlag | GuestPage.DirtyFlag;
                break;
            case GuestPageState.Zero:
            {
                PageDescriptor page = _handy.Take(GuestFrame(range, index));
                Span<byte> memory = new(_host.PageAddress(page.Page), Paging.PageSize);
                if (!fullPage.IsEmpty) { fullPage.CopyTo(memory); filled = true; }
                else if (!page.Zeroed) memory.Clear();
                next = GuestPage.WithState(e, GuestPageState.Allocated, page.Page) | GuestPage.WrittenToFlag | GuestPage.DirtyFlag;
                _firstWrites++;
                break;
            }
            case GuestPageState.Shared:
            {
                PageDescriptor page = _handy.Take(GuestFrame(range, index));
                Span<byte> memory = new(_host.PageAddress(page.Page), Paging.PageSize);
                if (!fullPage.IsEmpty) { fullPage.CopyTo(memory); filled = true; }
                else HostPage(e).CopyTo(memory);
                next = GuestPage.WithState(e, GuestPageState.Allocated, page.Page) | GuestPage.WrittenToFlag | GuestPage.DirtyFlag;
                next = GuestPage.WithVolatility(next, GuestPage.Volatility(e) + 1);
                _copyOnWriteBreaks++;
                break;
            }
            default:
                throw new GmmException(GmmError.PageBallooned, $"guest page {range.Start + ((ulong)index << Paging.PageShift):x} is in the balloon");
        }
        next &= ~GuestPage.MovingFlag; // a write: a move armed before it must not go ahead
        Publish(ref slot, e, next);
        if (GuestPage.State(e) == GuestPageState.Shared) _deferred.Retire(Vm, GuestPage.Page(e));
        return next;
    }

    /// <summary>
    /// Under the lock: an entry in state <paramref name="oldState"/> stopped pointing at <paramref name="page"/>,
    /// which goes back to the Gmm once no access can still be using it. A private page also stops backing its
    /// guest frame: dropped from the handy pages' pending report, or — when the Gmm was told already — told
    /// again (as "no frame") in one batched call by <see cref="FlushRetired"/>, so a frame never has two pages.
    /// </summary>
    private void Retire(PageId page, GuestPageState oldState)
    {
        if (oldState == GuestPageState.Shared)
        {
            _deferred.Retire(Vm, page);
            return;
        }
        if (!_handy.Forget(page)) _framesToClear.Add(new PageDescriptor { Page = page, GuestFrame = PageDescriptor.NoGuestFrame });
        _retiring.Add(page);
    }

    /// <summary>Under the lock, at the end of an operation that retired private pages: tells the Gmm, then queues them.</summary>
    private void FlushRetired()
    {
        if (_framesToClear.Count > 0) _gmm.AllocateHandyPages(Vm, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_framesToClear), []);
        _framesToClear.Clear();
        foreach (PageId page in _retiring) _deferred.Retire(Vm, page);
        _retiring.Clear();
    }

    /// <summary>Under the lock: stores a new entry and keeps the per-state counts.</summary>
    private void Publish(ref ulong slot, ulong old, ulong next)
    {
        Volatile.Write(ref slot, next);
        _stateCounts[(int)GuestPage.State(old)]--;
        _stateCounts[(int)GuestPage.State(next)]++;
    }

    private static ulong GuestFrame(MemoryRange range, int index) => (range.Start >> Paging.PageShift) + (ulong)index;

    /// <summary>
    /// Under the lock: applies conditional entry changes (the body of a page update request). Each
    /// update happens only if the entry still equals what the sender saw and the page is not mapped; the host page it replaced is
    /// retired, so it goes back to the Gmm once no reader can hold it any more.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // a batch of up to 512 updates; fusion and compaction send few, long ones
    internal void ApplyUpdates(Span<PageUpdate> updates)
    {
        if (!_lock.IsHeldByCurrentThread) throw new InvalidOperationException("page updates run under the VM lock");
        foreach (ref PageUpdate update in updates)
        {
            update.Applied = false;
            if (_destroyed) continue;
            MemoryRange? range = FindRange(update.Address);
            if (range == null || range.Type == GuestPageType.Mmio) continue;
            ref ulong slot = ref range.Entries[(update.Address - range.Start) >> Paging.PageShift];
            // A mapped page is never shared, moved or freed, whatever the sender saw.
            if (slot != update.Expected || GuestPage.IsLocked(slot)) continue;
            Publish(ref slot, slot, update.Replacement);
            if (!update.Retire.IsNil) Retire(update.Retire, GuestPage.State(update.Expected));
            update.Applied = true;
        }
        FlushRetired();
    }

    /// <summary>Loads a page entry without the lock (for scanners: a snapshot that requests re-check).</summary>
    internal static ulong ReadEntry(MemoryRange range, int index) => Volatile.Read(ref range.Entries[index]);

    /// <summary>Host address of a host page (scanners read page contents inside an access section).</summary>
    internal byte* HostAddress(PageId page) => _host.PageAddress(page);
}

/// <summary>
/// One conditional change of one guest page entry, carried by a <see cref="PageUpdateRequest"/>:
/// if the entry still equals <see cref="Expected"/>, it becomes <see cref="Replacement"/> and
/// <see cref="Retire"/> (a private page, or a reference to a shared page) goes back to the Gmm once
/// no reader can hold it.
/// </summary>
internal struct PageUpdate
{
    public ulong Address;
    public ulong Expected;
    public ulong Replacement;
    public PageId Retire;
    public bool Applied;
}

/// <summary>
/// The request fusion, compaction and live save send to a VM: a batch of compare-and-replace updates
/// of page entries (check the precondition, update, flush translations by retiring the old page).
/// </summary>
internal sealed class PageUpdateRequest(GuestPhysicalMemory memory, PageUpdate[] updates, int count) : Requests.VmRequest
{
    public PageUpdate[] Updates { get; } = updates;
    public int Count { get; } = count;

    protected override void Execute() => memory.ApplyUpdates(Updates.AsSpan(0, Count));
}

/// <summary>
/// A reusable <see cref="PageUpdateRequest"/>-like batch for scanners that send many: filled, sent to a
/// VM and waited for, then cleared and filled again, without allocating.
/// </summary>
internal sealed class PageUpdateBatch(int capacity) : Requests.VmRequest
{
    private GuestPhysicalMemory? _target;
    private bool _ranBefore;

    public PageUpdate[] Updates { get; } = new PageUpdate[capacity];
    public int Count { get; private set; }
    public bool IsFull => Count == Updates.Length;

    public void Add(ulong address, ulong expected, ulong replacement, PageId retire) =>
        Updates[Count++] = new PageUpdate { Address = address, Expected = expected, Replacement = replacement, Retire = retire };

    /// <summary>Sends the batch to <paramref name="memory"/>'s VM and waits until it ran.</summary>
    public void SendTo(GuestPhysicalMemory memory)
    {
        if (Count == 0) return;
        if (_ranBefore) Rearm();
        _target = memory;
        _ranBefore = true;
        memory.Lock.Submit(this, wait: true);
    }

    public void Clear() => Count = 0;

    protected override void Execute() => _target!.ApplyUpdates(Updates.AsSpan(0, Count));
}
