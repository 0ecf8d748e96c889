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
/// <remarks>Shared pages are never written in place, so no arming is needed: the pin is enough.</remarks>
internal sealed class SharedPageMover(GlobalMemoryManager manager)
{
    private readonly PageManager _gmm = manager.Pages;
    private readonly PageUpdateBatch _batch = new(PrivatePageMover.BatchSize);
    private readonly PageId[] _refused = new PageId[PrivatePageMover.BatchSize];

    /// <summary>Moves <paramref name="shared"/> away from its chunk. Returns false when the host has no room for the copy (the run should stop).</summary>
    public bool Move(PageId shared, IReadOnlyList<SharedUser> users, ref MoveCounters counters)
    {
        VirtualMachine? holder = users.Select(u => u.Vm).FirstOrDefault(vm => !vm.IsDestroyed);
        if (holder == null || !TryPin(holder.Handle, shared, out uint checksum)) return true;
        try
        {
            PageId copy;
            try
            {
                copy = _gmm.AllocateSharedPage(holder.Handle, checksum); // the holder's reference keeps the copy alive while entries switch
            }
            catch (GmmException e) when (e.Error is GmmError.HitGlobalLimit or GmmError.HostOutOfMemory or GmmError.VmNotFound)
            {
                return e.Error == GmmError.VmNotFound;
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
            MoveSupport.GiveBack(_gmm, holder.Handle, [copy]);
        }
        finally
        {
            MoveSupport.GiveBack(_gmm, holder.Handle, [shared]); // the pin
        }
        return true;
    }

    /// <summary>A reference of the compactor's own, taken in <paramref name="vm"/>'s name; false when the page is no longer shared.</summary>
    private bool TryPin(VmHandle vm, PageId shared, out uint checksum)
    {
        checksum = 0;
        try
        {
            _gmm.AddSharedReference(vm, shared);
        }
        catch (GmmException e) when (e.Error is GmmError.PageNotShared or GmmError.PageNotFound or GmmError.VmNotFound or GmmError.InvalidArgument)
        {
            return false;
        }
        checksum = _gmm.GetSharedPageInfo(shared).Checksum;
        return true;
    }

    /// <summary>Switches one VM's entries from <paramref name="old"/> to <paramref name="copy"/>; returns how many switched.</summary>
    private long Switch(VirtualMachine vm, SharedUser[] users, PageId old, PageId copy, ref MoveCounters counters)
    {
        if (vm.IsDestroyed) return 0;
        try
        {
            _gmm.AddSharedReferences(vm.Handle, copy, users.Length);
        }
        catch (GmmException e) when (e.Error is GmmError.VmNotFound or GmmError.InvalidArgument)
        {
            return 0; // the VM is gone, or the copy cannot hold that many references: these entries stay
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
            MoveSupport.GiveBack(_gmm, vm.Handle, _refused.AsSpan(0, refused));
        }
        return switched;
    }
}
