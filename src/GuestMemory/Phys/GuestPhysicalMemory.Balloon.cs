using GuestMemory.Gmm;

namespace GuestMemory.Phys;

public sealed unsafe partial class GuestPhysicalMemory
{
    /// <summary>
    /// The guest gives these RAM pages to its balloon (seed: ballooned pages freed by the guest
    /// additions): they become Ballooned, their host pages (private, or references to shared pages) go
    /// back to the Gmm once no access can still be using them, and the Gmm counts them as ballooned.
    /// </summary>
    /// <param name="pageAddresses">Page-aligned guest-physical addresses of RAM pages, each at most once.</param>
    /// <param name="completed">True when this batch completes the host's balloon request.</param>
    /// <returns>How many host pages were given back (the rest were zero pages).</returns>
    /// <exception cref="GmmException"><see cref="GmmError.UnalignedAddress"/>, <see cref="GmmError.AddressNotMapped"/>,
    /// <see cref="GmmError.NotRam"/>, <see cref="GmmError.PageBallooned"/> (already in the balloon, or twice in the batch),
    /// <see cref="GmmError.PageLocked"/>, <see cref="GmmError.AttemptToFreeTooMuch"/>: nothing changes.</exception>
    public int InflateBalloon(ReadOnlySpan<ulong> pageAddresses, bool completed = false)
    {
        if (pageAddresses.IsEmpty) return 0;
        int freed;
        using (_lock.Enter())
        {
            ThrowIfDestroyed();
            var seen = new HashSet<ulong>(pageAddresses.Length);
            int backed = 0;
            foreach (ulong address in pageAddresses)
            {
                (MemoryRange range, int index) = FindRamPage(address);
                ulong e = range.Entries[index];
                if (GuestPage.State(e) == GuestPageState.Ballooned || !seen.Add(address))
                    throw new GmmException(GmmError.PageBallooned, $"page {address:x} is already in the balloon");
                if (GuestPage.IsLocked(e)) throw new GmmException(GmmError.PageLocked, $"page {address:x} is mapped");
                if (GuestPage.HasHostPage(e)) backed++;
            }
            // Pages retired earlier (a copy-on-write, a merge, an earlier balloon) still count as this VM's
            // until readers move on, though no guest page uses them: the ones already safe go back first,
            // and the rest are counted as freed later, under the deferred-frees lock so that none is freed
            // (and counted twice) meanwhile. Else a balloon that fits looks too big (issue 14, item 7).
            _deferred.TryReclaim();
            int count = pageAddresses.Length;
            _deferred.WithPendingCount(Vm, pending => _gmm.BalloonedPagesFreedLater(Vm, count, backed + pending, completed));
            foreach (ulong address in pageAddresses)
            {
                (MemoryRange range, int index) = FindRamPage(address);
                ulong e = range.Entries[index];
                Publish(ref range.Entries[index], e, GuestPage.Make(GuestPageType.Ram, GuestPageState.Ballooned, PageId.Nil));
                if (GuestPage.HasHostPage(e)) Retire(GuestPage.Page(e), GuestPage.State(e));
            }
            FlushRetired();
            freed = backed;
        }
        GiveBackNow();
        return freed;
    }

    /// <summary>
    /// The guest takes these pages back out of its balloon: they become zero pages again (seed:
    /// GMMR0DeflatedBalloon). Host pages are allocated only when the guest writes them.
    /// </summary>
    /// <exception cref="GmmException"><see cref="GmmError.AttemptToDeflateTooMuch"/> when a page is not in the balloon
    /// (or is named twice), and the address errors of <see cref="InflateBalloon"/>: nothing changes.</exception>
    public void DeflateBalloon(ReadOnlySpan<ulong> pageAddresses)
    {
        if (pageAddresses.IsEmpty) return;
        using (_lock.Enter())
        {
            ThrowIfDestroyed();
            var seen = new HashSet<ulong>(pageAddresses.Length);
            foreach (ulong address in pageAddresses)
            {
                (MemoryRange range, int index) = FindRamPage(address);
                if (GuestPage.State(range.Entries[index]) != GuestPageState.Ballooned || !seen.Add(address))
                    throw new GmmException(GmmError.AttemptToDeflateTooMuch, $"page {address:x} is not in the balloon");
            }
            _gmm.DeflatedBalloon(Vm, pageAddresses.Length);
            foreach (ulong address in pageAddresses)
            {
                (MemoryRange range, int index) = FindRamPage(address);
                Publish(ref range.Entries[index], range.Entries[index], GuestPage.Make(GuestPageType.Ram, GuestPageState.Zero, PageId.Nil));
            }
        }
    }

    private (MemoryRange Range, int Index) FindRamPage(ulong address)
    {
        CheckAligned(address);
        MemoryRange range = FindRange(address) ?? throw NotMapped(address, Paging.PageSize);
        if (range.Type != GuestPageType.Ram) throw new GmmException(GmmError.NotRam, $"page {address:x} is {range.Type}, only RAM can be ballooned");
        return (range, (int)((address - range.Start) >> Paging.PageShift));
    }
}
