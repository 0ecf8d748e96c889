using GuestMemory.Gmm;
using GuestMemory.Phys;

namespace GuestMemory.Compaction;

/// <summary>
/// Moves a shared page: pins it (a reference of its own, so its content stays put and its id is not
/// reused), copies it once into a page of a fuller shared chunk, and switches every entry that names it
/// to the copy by compare-and-replace requests, one per VM. Each switched entry takes a reference to
/// the copy and retires its reference to the old page; a refused switch (the entry was written or
/// mapped meanwhile) gives its new reference back. Fusion is told, so later duplicates join the copy.
/// </summary>
/// <remarks>
/// Shared pages are never written in place, so no arming is needed: the pin is enough. References are
/// taken and given back in a VM's name under that VM's lock (<see cref="MoveSupport.WhileAlive"/>).
/// </remarks>
internal sealed class SharedPageMover(GlobalMemoryManager manager)
{
    private readonly PageManager _gmm = manager.Pages;
    private readonly PageUpdateBatch _batch = new(PrivatePageMover.BatchSize);
    private readonly PageId[] _refused = new PageId[PrivatePageMover.BatchSize];

    /// <summary>Moves <paramref name="shared"/> away from its chunk. Returns false when the host has no room for the copy (the run should stop).</summary>
    public bool Move(PageId shared, IReadOnlyList<SharedUser> users, ref MoveCounters counters)
    {
        VirtualMachine? holder = users.Select(u => u.Vm).FirstOrDefault(vm => !vm.IsDestroyed);
        if (holder == null || !TryPin(holder, shared, out uint checksum)) return true;
        try
        {
            PageId copy = PageId.Nil;
            try
            {
                // The holder's first reference keeps the copy alive while the entries switch.
                if (!MoveSupport.WhileAlive(holder, () => copy = _gmm.Port.AllocateSharedPage(holder.Handle, checksum))) return true;
            }
            catch (GmmException e) when (e.Error is GmmError.HitGlobalLimit or GmmError.HostOutOfMemory)
            {
                return false;
            }
            MoveSupport.Copy(_gmm, shared, copy);
            long switched = 0;
            foreach (IGrouping<VirtualMachine, SharedUser> mine in users.GroupBy(u => u.Vm))
                switched += Switch(mine.Key, mine.ToArray(), shared, copy, ref counters);
            if (switched > 0)
            {
                counters.SharedMoved++;
                manager.Fusion.SharedPageMoved(shared, copy);
            }
            MoveSupport.GiveBack(_gmm, holder, [copy], 1);
        }
        finally
        {
            MoveSupport.GiveBack(_gmm, holder, [shared], 1); // the pin
        }
        return true;
    }

    /// <summary>A reference of the compactor's own, taken in <paramref name="holder"/>'s name; false when the page is no longer shared.</summary>
    private bool TryPin(VirtualMachine holder, PageId shared, out uint checksum)
    {
        uint found = 0;
        bool pinned = false;
        try
        {
            MoveSupport.WhileAlive(holder, () =>
            {
                _gmm.Port.AddSharedReference(holder.Handle, shared);
                pinned = true;
                found = _gmm.GetSharedPageInfo(shared).Checksum;
            });
        }
        catch (GmmException e) when (e.Error is GmmError.PageNotShared or GmmError.PageNotFound or GmmError.InvalidArgument)
        {
            // Freed since the scan, or it holds the most references a page can.
        }
        checksum = found;
        return pinned;
    }

    /// <summary>Switches one VM's entries from <paramref name="old"/> to <paramref name="copy"/>; returns how many switched.</summary>
    private long Switch(VirtualMachine vm, SharedUser[] users, PageId old, PageId copy, ref MoveCounters counters)
    {
        try
        {
            if (!MoveSupport.WhileAlive(vm, () => _gmm.AddSharedReferences(vm.Handle, copy, users.Length))) return 0;
        }
        catch (GmmException e) when (e.Error == GmmError.InvalidArgument)
        {
            return 0; // the copy cannot hold that many references: these entries stay
        }
        long switched = 0;
        for (int start = 0; start < users.Length; start += _batch.Updates.Length)
        {
            foreach (SharedUser u in users.AsSpan(start, Math.Min(_batch.Updates.Length, users.Length - start)))
                _batch.Add(u.Address, u.Entry, GuestPage.WithState(u.Entry, GuestPageState.Shared, copy) & ~GuestPage.MovingFlag, old);
            MoveSupport.Send(_batch, vm.Memory);
            int refused = 0;
            foreach (ref readonly PageUpdate u in _batch.Updates.AsSpan(0, _batch.Count))
            {
                if (u.Applied) switched++;
                else _refused[refused++] = copy;
            }
            _batch.Clear();
            counters.Refused += refused;
            MoveSupport.GiveBack(_gmm, vm, _refused, refused);
        }
        return switched;
    }
}
