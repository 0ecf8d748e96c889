using GuestMemory.Gmm;
using GuestMemory.Host;

namespace GuestMemory.Phys;

public sealed unsafe partial class GuestPhysicalMemory
{
    /// <summary>
    /// Resets guest memory to its power-on state (seed: freeing at reset): every RAM page goes back to
    /// the zero page and its host page back to the Gmm, ballooned pages become zero pages and the balloon
    /// is emptied, ROM is re-initialised from its image.
    /// </summary>
    /// <exception cref="GmmException"><see cref="GmmError.PageLocked"/> while any page is mapped (nothing changes).</exception>
    public void Reset()
    {
        using (_lock.Enter())
        {
            ThrowIfDestroyed();
            ThrowIfAnyMapped();
            foreach (MemoryRange range in _ranges)
            {
                if (range.Type == GuestPageType.Ram)
                {
                    for (int i = 0; i < range.Entries.Length; i++)
                    {
                        ulong e = range.Entries[i];
                        Publish(ref range.Entries[i], e, GuestPage.Make(GuestPageType.Ram, GuestPageState.Zero, PageId.Nil));
                        if (GuestPage.HasHostPage(e)) Retire(GuestPage.Page(e), GuestPage.State(e));
                    }
                }
                else if (range.Type == GuestPageType.Rom)
                {
                    for (int i = 0; i < range.Entries.Length; i++)
                        range.Entries[i] = GuestPage.Make(GuestPageType.Rom, GuestPageState.Allocated, GuestPage.Page(range.Entries[i]));
                    FillRom(range);
                }
            }
            FlushRetired();
            _gmm.ResetBalloon(Vm);
        }
        GiveBackNow();
    }

    /// <summary>
    /// Destroys the VM's memory: every access fails from now on, and every host page (RAM, ROM, handy
    /// pages, shared references) goes back to the Gmm once the last in-flight access has finished.
    /// </summary>
    /// <param name="force">The manager is being disposed: pages still mapped are let go too (their
    /// mappings' spans stay readable memory until disposed, see <see cref="HostMemory.AddMappingUse"/>).</param>
    /// <exception cref="GmmException"><see cref="GmmError.PageLocked"/> while any page is mapped and not
    /// <paramref name="force"/> (nothing changes).</exception>
    internal void Destroy(bool force = false)
    {
        using (_lock.Enter())
        {
            if (_released) return;
            if (!force) ThrowIfAnyMapped();
            RefuseAccess();
            foreach (MemoryRange range in _ranges)
            {
                for (int i = 0; i < range.Entries.Length; i++)
                {
                    ulong e = range.Entries[i];
                    if (GuestPage.HasHostPage(e)) _deferred.Retire(Vm, GuestPage.Page(e)); // the Gmm forgets the whole VM next
                    Publish(ref range.Entries[i], e, GuestPage.Make(range.Type, GuestPageState.Zero, PageId.Nil));
                }
            }
            _handy.Drain(page => _deferred.Retire(Vm, page));
            _released = true;
        }
        _deferred.ReclaimAll();
    }

    /// <summary>
    /// The first step of disposing the manager, for every VM before any is destroyed: from now on no
    /// access succeeds and no page is allocated for this VM, so pages other VMs free during the teardown
    /// can reach no one. The pages stay where they are until <see cref="Destroy"/>.
    /// </summary>
    internal void Shutdown()
    {
        using (_lock.Enter()) RefuseAccess();
    }

    /// <summary>Under the lock: every later access fails (the fast path's window closes, the slow path checks the flag).</summary>
    private void RefuseAccess()
    {
        _destroyed = true;
        Volatile.Write(ref _fastPages, 0);
    }

    /// <summary>
    /// Frees retired pages right away when this thread may wait for readers (else as soon as they are
    /// safe), and hands the memory of free pages back to the host: reset and ballooning exist to do that.
    /// </summary>
    private void GiveBackNow()
    {
        if (AccessEpoch.IsInside || _lock.IsHeldByCurrentThread) _deferred.TryReclaim();
        else _deferred.ReclaimAll();
        _gmm.SettleFreedPages();
    }

    private void ThrowIfAnyMapped()
    {
        if (FirstMappedRange() is { } range)
            throw new GmmException(GmmError.PageLocked, $"a page of {range} is still mapped; dispose every mapping first");
    }

    /// <summary>True while a page of this VM is mapped (a mapping not yet disposed).</summary>
    internal bool HasMappings
    {
        get { using (_lock.Enter()) return !_released && FirstMappedRange() != null; }
    }

    private MemoryRange? FirstMappedRange()
    {
        foreach (MemoryRange range in _ranges)
            foreach (ulong e in range.Entries)
                if (GuestPage.IsLocked(e)) return range;
        return null;
    }
}
