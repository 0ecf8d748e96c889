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
    /// <summary>Pages put to use since the last report: page id → guest frame.</summary>
    private readonly Dictionary<uint, ulong> _putToUse = [];
    private PageDescriptor[] _report = new PageDescriptor[Capacity];

    /// <summary>Pages at hand now.</summary>
    public int Count => _count;

    /// <summary>Refill calls made to the Gmm.</summary>
    public long Refills { get; private set; }

    /// <summary>Takes a page for guest frame <paramref name="guestFrame"/>; refills first when empty.</summary>
    public PageDescriptor Take(ulong guestFrame)
    {
        if (_count == 0) Refill(Capacity);
        PageDescriptor page = _pages[--_count];
        _putToUse[page.Page.Value] = guestFrame;
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

    /// <summary>Pages whose guest frame the Gmm has not been told yet: page → guest frame.</summary>
    public IEnumerable<KeyValuePair<PageId, ulong>> Unreported => _putToUse.Select(kv => KeyValuePair.Create(new PageId(kv.Key), kv.Value));

    /// <summary>
    /// A page put to use has left its guest page (it is being freed): its guest frame must not be
    /// reported any more, or a later report would name a page that is free or someone else's by then.
    /// Returns false when the frame was reported already (the Gmm then must be told it is gone).
    /// </summary>
    public bool Forget(PageId page) => _putToUse.Remove(page.Value);

    /// <summary>Every page put to use has left its guest frame (reset): report none of them.</summary>
    public void ForgetAll() => _putToUse.Clear();

    /// <summary>
    /// Hands every page at hand to <paramref name="giveBack"/>. With <paramref name="reportFirst"/> the Gmm is
    /// first told the guest frames of the pages put to use (compaction needs them); at destroy it is not.
    /// </summary>
    public void Drain(Action<PageId> giveBack, bool reportFirst = false)
    {
        if (reportFirst && _putToUse.Count > 0)
        {
            gmm.AllocateHandyPages(vm, PendingReport(), []);
            _putToUse.Clear();
        }
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

    /// <summary>The pages put to use, as the batch the Gmm call takes (a reused buffer).</summary>
    private ReadOnlySpan<PageDescriptor> PendingReport()
    {
        if (_report.Length < _putToUse.Count) _report = new PageDescriptor[_putToUse.Count * 2];
        int n = 0;
        foreach ((uint page, ulong frame) in _putToUse) _report[n++] = new PageDescriptor { Page = new PageId(page), GuestFrame = frame };
        return _report.AsSpan(0, n);
    }

    private void Refill(int wanted)
    {
        if (_count + wanted > _pages.Length) Array.Resize(ref _pages, _count + wanted);
        int granted = gmm.AllocateHandyPages(vm, PendingReport(), _pages.AsSpan(_count, wanted));
        _putToUse.Clear();
        _count += granted;
        Refills++;
    }
}
