using GuestMemory.Gmm;
using GuestMemory.Host;

namespace GuestMemory.Phys;

/// <summary>
/// Host pages (private pages or shared references) that no guest entry points to any more but that a
/// reader may still be copying from: they go back to the Gmm only once every access section that could
/// have seen them has ended (<see cref="AccessEpoch"/>). This is what makes "a host page is reused only
/// after every thread that may hold a pointer to it has moved on" true for all VMs of one manager.
/// </summary>
/// <remarks>
/// Guarded by its own lock, taken after a VM's lock and before the Gmm's (lock order VM → this → Gmm).
/// Items are queued in tag order, so the safe ones are always a prefix.
/// </remarks>
internal sealed class DeferredFrees(IGmm gmm)
{
    /// <summary>Try to reclaim once this many pages are waiting.</summary>
    private const int ReclaimBatch = 256;
    private readonly RankedLock _lock = new(LockRank.DeferredFrees);
    private readonly Queue<Item> _items = new();
    private readonly Dictionary<VmHandle, int> _perVm = [];
    private PageId[] _batch = new PageId[ReclaimBatch];

    private readonly record struct Item(VmHandle Vm, PageId Page, long Tag);

    /// <summary>Pages waiting for readers to move on.</summary>
    public int Count { get { using (_lock.EnterScope()) return _items.Count; } }

    /// <summary>Pages of one VM waiting (they still count as allocated to it in the Gmm).</summary>
    public int CountFor(VmHandle vm) { using (_lock.EnterScope()) return _perVm.GetValueOrDefault(vm); }

    /// <summary>
    /// Runs <paramref name="action"/> with the count of <paramref name="vm"/>'s waiting pages, holding this
    /// lock so none of them is freed meanwhile (the action may call the Gmm: lock order VM, this, Gmm).
    /// </summary>
    public void WithPendingCount(VmHandle vm, Action<int> action)
    {
        using (_lock.EnterScope()) action(_perVm.GetValueOrDefault(vm));
    }

    /// <summary>Queues a page whose entry was just changed away from it (call after the change).</summary>
    public void Retire(VmHandle vm, PageId page)
    {
        bool reclaim;
        using (_lock.EnterScope())
        {
            _items.Enqueue(new Item(vm, page, AccessEpoch.Current));
            _perVm[vm] = _perVm.GetValueOrDefault(vm) + 1;
            reclaim = _items.Count >= ReclaimBatch;
        }
        if (reclaim) TryReclaim();
    }

    /// <summary>Frees what is already safe, without waiting. Returns how many pages went back.</summary>
    public int TryReclaim()
    {
        using (_lock.EnterScope())
        {
            if (_items.Count == 0) return 0;
            return FreePrefix(AccessEpoch.SafeBefore());
        }
    }

    /// <summary>Waits for the readers of every queued page, then frees them all.</summary>
    /// <remarks>Must not be called inside an access section or while holding a VM's lock.</remarks>
    public int ReclaimAll()
    {
        long newest;
        using (_lock.EnterScope())
        {
            if (_items.Count == 0) return 0;
            newest = AccessEpoch.Current;
        }
        AccessEpoch.WaitForReaders(newest);
        using (_lock.EnterScope()) return FreePrefix(newest + 1);
    }

    /// <summary>Gives back every item tagged below <paramref name="safeBefore"/>, batched per VM.</summary>
    private int FreePrefix(long safeBefore)
    {
        int freed = 0;
        while (_items.TryPeek(out Item first) && first.Tag < safeBefore)
        {
            int n = 0;
            while (n < _batch.Length && _items.TryPeek(out Item next) && next.Tag < safeBefore && next.Vm == first.Vm)
                _batch[n++] = _items.Dequeue().Page;
            gmm.FreePages(first.Vm, GmmAccount.Base, _batch.AsSpan(0, n));
            int left = _perVm[first.Vm] - n;
            if (left == 0) _perVm.Remove(first.Vm);
            else _perVm[first.Vm] = left;
            freed += n;
        }
        return freed;
    }

    /// <summary>The waiting pages of one VM (for the consistency check).</summary>
    public List<PageId> PagesOf(VmHandle vm)
    {
        using (_lock.EnterScope()) return _items.Where(i => i.Vm == vm).Select(i => i.Page).ToList();
    }
}
