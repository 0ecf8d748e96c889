using GuestMemory.Gmm;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Gmm.Model;

/// <summary>A private page as the model knows it.</summary>
internal sealed record ModelPage(int Slot, GmmAccount Account, ulong GuestFrame, long Tag);

/// <summary>A shared page as the model knows it.</summary>
internal sealed class ModelSharedPage(uint checksum, long tag)
{
    public uint Checksum { get; } = checksum;
    public long Tag { get; } = tag;
    public int References;
}

/// <summary>
/// The plain reference model of the Gmm: which pages each VM holds per account, shared pages and their
/// reference counts, balloons and reservations. It knows nothing of chunks except which hold live pages,
/// since where a page lands is the allocator's business; what it cannot know (whether an emptied chunk
/// was kept as a spare) it says it does not know.
/// </summary>
internal sealed class GmmReferenceModel(long maxPages, double overcommitRatio, int spareChunks)
{
    private readonly Dictionary<int, int> _livePagesPerChunk = [];

    public long MaxPages { get; } = maxPages;
    public int SpareChunks { get; } = spareChunks;
    public ModelVm?[] Vms { get; } = new ModelVm?[GmmOperationGenerator.VmSlots];
    public Dictionary<PageId, ModelPage> PrivatePages { get; } = [];
    public Dictionary<PageId, ModelSharedPage> SharedPages { get; } = [];
    /// <summary>Ids that were live once and are free now.</summary>
    public PickList<PageId> FreedPages { get; } = new();
    /// <summary>Every chunk that ever held a page.</summary>
    public HashSet<int> SeenChunks { get; } = [];
    public PickList<PageId> SharedPageList { get; } = new();

    public long AllocatedHostPages => PrivatePages.Count + SharedPages.Count;
    public long ReservedPages => Vms.Sum(v => v?.Reserved.Total ?? 0);
    public IEnumerable<int> LiveChunks => _livePagesPerChunk.Keys;

    /// <summary>True when the chunk holds a live page, so it is certainly committed.</summary>
    public bool IsChunkLive(int chunk) => _livePagesPerChunk.ContainsKey(chunk);

    /// <summary>
    /// The errors a call naming a page that is not live may raise: <paramref name="whenChunkLive"/> while its chunk is
    /// committed, PageNotFound once the chunk went back to the host; both when the chunk may be a spare.
    /// </summary>
    public GmmError[] ErrorsForStalePage(PageId page, GmmError whenChunkLive) =>
        IsChunkLive(page.ChunkId) ? [whenChunkLive] : SpareChunks == 0 ? [GmmError.PageNotFound] : [whenChunkLive, GmmError.PageNotFound];

    /// <summary>The seed's over-commit policy: null when the change fits, else why not.</summary>
    public GmmError? ReservationChange(long deltaAll, long deltaNoOvercommit)
    {
        long noOvercommit = Vms.Sum(v => v?.Policy == OvercommitPolicy.NoOvercommit ? v.Reserved.Total : 0);
        if (ReservedPages + deltaAll > (long)(MaxPages * overcommitRatio)) return GmmError.ReservationDeclined;
        if (noOvercommit + deltaNoOvercommit > MaxPages) return GmmError.ReservationDeclined;
        return null;
    }

    public static bool IsWellShaped(AccountPages r) => r.Base >= 0 && r.Shadow >= 0 && r.Fixed >= 0 && r.Total > 0 && r.Total <= 1L << 40;

    public void AddPrivate(int slot, GmmAccount account, PageId page, ulong guestFrame, long tag)
    {
        AssertNotLive(page);
        PrivatePages.Add(page, new ModelPage(slot, account, guestFrame, tag));
        Vms[slot]!.Private[(int)account].Add(page);
        if (account == GmmAccount.Base && guestFrame == PageDescriptor.NoGuestFrame) Vms[slot]!.HandyPages.Add(page);
        PageArrived(page);
    }

    public void RemovePrivate(PageId page)
    {
        ModelPage p = PrivatePages[page];
        PrivatePages.Remove(page);
        Vms[p.Slot]!.Private[(int)p.Account].Remove(page);
        Vms[p.Slot]!.HandyPages.Remove(page);
        PageLeft(page);
    }

    /// <summary>A handy page now backs a guest frame.</summary>
    public void SetGuestFrame(PageId page, ulong guestFrame)
    {
        ModelPage p = PrivatePages[page];
        PrivatePages[page] = p with { GuestFrame = guestFrame };
        Vms[p.Slot]!.HandyPages.Remove(page);
    }

    public void AddShared(int slot, PageId page, uint checksum, long tag)
    {
        AssertNotLive(page);
        SharedPages.Add(page, new ModelSharedPage(checksum, tag));
        SharedPageList.Add(page);
        PageArrived(page);
        AddReference(slot, page);
    }

    public void AddReference(int slot, PageId page)
    {
        SharedPages[page].References++;
        Vms[slot]!.SharedReferences[page] = Vms[slot]!.SharedReferences.GetValueOrDefault(page) + 1;
    }

    public void DropReference(int slot, PageId page)
    {
        Dictionary<PageId, int> mine = Vms[slot]!.SharedReferences;
        if (--mine[page] == 0) mine.Remove(page);
        if (--SharedPages[page].References > 0) return;
        SharedPages.Remove(page);
        SharedPageList.Remove(page);
        PageLeft(page);
    }

    /// <summary>What the Gmm does when a VM is destroyed: drop its references, free its pages, forget it.</summary>
    public void DestroyVm(int slot)
    {
        ModelVm vm = Vms[slot]!;
        foreach (PageId page in vm.ReferenceList()) DropReference(slot, page);
        foreach (PickList<PageId> pages in vm.Private)
            foreach (PageId page in pages.Items.ToArray()) RemovePrivate(page);
        Vms[slot] = null;
    }

    private void AssertNotLive(PageId page)
    {
        if (PrivatePages.ContainsKey(page) || SharedPages.ContainsKey(page)) Assert.Fail($"{page} was handed out while it is live");
    }

    private void PageArrived(PageId page)
    {
        FreedPages.Remove(page);
        SeenChunks.Add(page.ChunkId);
        _livePagesPerChunk[page.ChunkId] = _livePagesPerChunk.GetValueOrDefault(page.ChunkId) + 1;
    }

    private void PageLeft(PageId page)
    {
        FreedPages.Add(page);
        if (--_livePagesPerChunk[page.ChunkId] > 0) return;
        _livePagesPerChunk.Remove(page.ChunkId);
        // The chunk went back to the host (no spares) and was unmapped everywhere, or it may be a spare now.
        foreach (ModelVm? vm in Vms)
        {
            if (vm == null || !vm.Mapped.TryGetValue(page.ChunkId, out bool? mapped)) continue;
            if (SpareChunks == 0) vm.Mapped.Remove(page.ChunkId);
            else if (mapped == true) vm.Mapped[page.ChunkId] = null;
        }
    }
}
