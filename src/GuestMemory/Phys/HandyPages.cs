using GuestMemory.Gmm;

namespace GuestMemory.Phys;

/// <summary>
/// A VM's handy pages (seed: the handy page array): pages allocated ahead of need so a first write or
/// a copy-on-write rarely waits for the Gmm. When 8 or fewer remain, one batched call both reports the
/// guest frames of the pages put to use since the last call and allocates a new batch.
/// Guarded by the owning VM's lock.
/// </summary>
internal sealed class HandyPages(IGmm gmm, VmHandle vm)
{
    /// <summary>Pages kept at hand (seed: 128).</summary>
    public const int Capacity = 128;
    /// <summary>Refill when this many or fewer remain (seed: 8).</summary>
    public const int RefillThreshold = 8;

    private PageDescriptor[] _pages = new PageDescriptor[Capacity];
    private int _count;
    private readonly List<PageDescriptor> _putToUse = [];

    /// <summary>Pages at hand now.</summary>
    public int Count => _count;

    /// <summary>Refill calls made to the Gmm.</summary>
    public long Refills { get; private set; }

    /// <summary>Takes a page for guest frame <paramref name="guestFrame"/>; refills first when empty.</summary>
    public PageDescriptor Take(ulong guestFrame)
    {
        if (_count == 0) Refill(Capacity);
        PageDescriptor page = _pages[--_count];
        _putToUse.Add(new PageDescriptor { Page = page.Page, GuestFrame = guestFrame });
        if (_count <= RefillThreshold) TryRefill();
        return page;
    }

    /// <summary>Makes sure at least <paramref name="needed"/> pages are at hand, or throws with nothing taken.</summary>
    public void Ensure(int needed)
    {
        while (_count < needed) Refill(Math.Max(Capacity, needed) - _count);
    }

    /// <summary>The pages at hand and the pages put to use but not yet reported (for Verify and destroy).</summary>
    public IEnumerable<PageDescriptor> AtHand => _pages.Take(_count);

    /// <summary>Pages whose guest frame the Gmm has not been told yet.</summary>
    public IReadOnlyList<PageDescriptor> Unreported => _putToUse;

    /// <summary>
    /// A page put to use has left its guest frame (fusion, compaction) before the next refill reported it:
    /// report nothing for it, since by then it may be free or another VM's. False when it was reported already.
    /// </summary>
    public bool Unreport(PageId page)
    {
        for (int i = 0; i < _putToUse.Count; i++)
        {
            if (_putToUse[i].Page != page) continue;
            _putToUse.RemoveAt(i);
            return true;
        }
        return false;
    }

    /// <summary>Every page put to use has left its guest frame (reset): report none of them.</summary>
    public void UnreportAll() => _putToUse.Clear();

    /// <summary>Gives every page at hand back (VM destroy); reports nothing further.</summary>
    public void Drain(Action<PageId> giveBack)
    {
        for (int i = 0; i < _count; i++) giveBack(_pages[i].Page);
        _count = 0;
        _putToUse.Clear();
    }

    private void TryRefill()
    {
        try
        {
            Refill(Capacity - _count);
        }
        catch (GmmException e) when (e.Error is GmmError.HitVmAccountLimit or GmmError.HitGlobalLimit or GmmError.HostOutOfMemory)
        {
            // Pages are still at hand; the next Take that finds none will report the error.
        }
    }

    private void Refill(int wanted)
    {
        if (_count + wanted > _pages.Length) Array.Resize(ref _pages, _count + wanted);
        int granted = gmm.AllocateHandyPages(vm, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_putToUse), _pages.AsSpan(_count, wanted));
        _putToUse.Clear();
        _count += granted;
        Refills++;
    }
}
