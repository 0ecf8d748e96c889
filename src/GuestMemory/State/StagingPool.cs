using System.Runtime.InteropServices;
using GuestMemory.Gmm;

namespace GuestMemory.State;

/// <summary>
/// The host pages a restore fills: allocated up front, as many as the header's non-zero count, before
/// the first record is read (seed: "allocate them up front ... the ring-0 component can refuse"). They
/// are allocated without zeroing, since each is filled with a whole page at once, and with no guest
/// frame yet (the frames are reported to the Gmm at commit, when they are known).
/// </summary>
/// <remarks>
/// Pages are allocated in batches of <see cref="Batch"/> so one call never holds the Gmm's lock for long.
/// A state whose records need more pages than its header declared (a live save's later passes) grows
/// the pool in smaller batches, still before the VM changes. Owned by one restore; not thread-safe.
/// </remarks>
/// <param name="vm">The VM restored into (its base account pays for the pages).</param>
/// <param name="lease">Raises the VM's reservation where it cannot cover the pages.</param>
/// <param name="limit">Pages the pool may allocate in all: a state is valid without more, so a (CRC-valid but crafted)
/// state that asks for more is refused as oversized instead of eating the host.</param>
internal sealed class StagingPool(VirtualMachine vm, ReservationLease lease, long limit)
{
    private const int Batch = 4096;
    /// <summary>Pages added when the records need more than the header declared.</summary>
    public const int GrowthBatch = 512;
    private readonly List<PageId> _free = [];
    private PageDescriptor[] _descriptors = [];

    /// <summary>Pages allocated before the first record.</summary>
    public long AllocatedUpFront { get; private set; }

    /// <summary>Pages allocated because the records needed more than the header declared.</summary>
    public long AllocatedLater { get; private set; }

    /// <summary>
    /// Allocates the header's count. Refuses first, with nothing allocated, when the host limit cannot
    /// hold it; then raises the reservation if needed (which may be declined), then allocates.
    /// </summary>
    /// <exception cref="GmmException"><see cref="GmmError.HitGlobalLimit"/>, <see cref="GmmError.ReservationDeclined"/>,
    /// <see cref="GmmError.HitVmAccountLimit"/>, <see cref="GmmError.HostOutOfMemory"/>.</exception>
    public void AllocateUpFront(long pages)
    {
        if (pages == 0) return;
        CheckRoom(vm, pages, "restoring");
        Allocate(pages);
        AllocatedUpFront = pages;
    }

    /// <summary>
    /// Refuses (<see cref="GmmError.HitGlobalLimit"/>) when the host limit cannot hold <paramref name="pages"/>
    /// more pages for <paramref name="vm"/>: the up-front check of a restore, or of an incoming migration.
    /// </summary>
    public static void CheckRoom(VirtualMachine vm, long pages, string what)
    {
        GmmStatistics host = vm.Manager.Pages.GetStatistics();
        if (host.AllocatedPages + pages > host.MaxPages)
            throw new GmmException(GmmError.HitGlobalLimit,
                $"{what} {vm} needs {pages} pages up front; the host has {host.MaxPages - host.AllocatedPages} of its {host.MaxPages} left");
    }

    /// <summary>A page to fill; grows the pool when it is empty.</summary>
    public PageId Take()
    {
        if (_free.Count == 0)
        {
            Allocate(GrowthBatch);
            AllocatedLater += GrowthBatch;
        }
        PageId page = _free[^1];
        _free.RemoveAt(_free.Count - 1);
        return page;
    }

    /// <summary>A page that is no longer needed for the image goes back to the pool.</summary>
    public void Return(PageId page) => _free.Add(page);

    /// <summary>Frees every page left in the pool (they were never visible to anyone, so no reader can hold them).</summary>
    public void FreeUnused()
    {
        Span<PageId> pages = CollectionsMarshal.AsSpan(_free);
        for (int done = 0; done < pages.Length; done += Batch)
            vm.Manager.Pages.Port.FreePages(vm.Handle, GmmAccount.Base, pages.Slice(done, Math.Min(Batch, pages.Length - done)));
        _free.Clear();
    }

    private void Allocate(long pages)
    {
        if (AllocatedUpFront + AllocatedLater + pages > limit)
            throw StateErrors.TooLarge($"its records need more than {limit} staging pages");
        lease.EnsureHeadroom(pages);
        for (long done = 0; done < pages;)
        {
            int n = (int)Math.Min(Batch, pages - done);
            if (_descriptors.Length < n) _descriptors = new PageDescriptor[n];
            Span<PageDescriptor> batch = _descriptors.AsSpan(0, n);
            foreach (ref PageDescriptor d in batch) d = new PageDescriptor { GuestFrame = PageDescriptor.NoGuestFrame };
            vm.Manager.Pages.Port.AllocatePages(vm.Handle, GmmAccount.Base, batch, zero: false);
            foreach (ref readonly PageDescriptor d in batch) _free.Add(d.Page);
            done += n;
        }
    }
}
