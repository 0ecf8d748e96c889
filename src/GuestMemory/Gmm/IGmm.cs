namespace GuestMemory.Gmm;

/// <summary>
/// The narrow, request-shaped interface through which a VM's guest-physical memory manager asks the
/// Gmm for pages (seed: the GMMR0*Req entry points). Every call is a batch, validates all of its
/// input first and either does everything or throws a <see cref="GmmException"/> and changes nothing.
/// This is the interface that would cross a process boundary if the Gmm ran as a host service.
/// </summary>
public interface IGmm
{
    /// <summary>
    /// Records the guest frames now backed by handy pages in <paramref name="updates"/>, then allocates up
    /// to <paramref name="newPages"/>.Length new base pages (seed: GMMR0AllocateHandyPages). Returns how
    /// many were allocated: fewer than asked when the VM's base account or the host is nearly full, but
    /// at least one; when none can be given it throws and applies no update.
    /// </summary>
    int AllocateHandyPages(VmHandle vm, ReadOnlySpan<PageDescriptor> updates, Span<PageDescriptor> newPages);

    /// <summary>
    /// Allocates exactly <paramref name="pages"/>.Length pages for an account, each backing the guest
    /// frame given in its descriptor (seed: GMMR0AllocatePages). With <paramref name="zero"/> every page
    /// reads as zero; without it the caller promises to overwrite every byte before a guest can read it.
    /// </summary>
    void AllocatePages(VmHandle vm, GmmAccount account, Span<PageDescriptor> pages, bool zero);

    /// <summary>Frees private pages, or drops references to shared pages (seed: GMMR0FreePages).</summary>
    void FreePages(VmHandle vm, GmmAccount account, ReadOnlySpan<PageId> pages);

    /// <summary>
    /// Allocates a new shared page with one reference held by <paramref name="vm"/>. The caller fills it
    /// before anyone can read it; <paramref name="checksum"/> is stored to detect writes in place.
    /// </summary>
    PageId AllocateSharedPage(VmHandle vm, uint checksum);

    /// <summary>Adds one reference from <paramref name="vm"/> to an existing shared page.</summary>
    void AddSharedReference(VmHandle vm, PageId shared);

    /// <summary>
    /// The guest ballooned <paramref name="ballooned"/> pages; <paramref name="pagesToFree"/> are the ones
    /// that had host pages (seed: GMMR0BalloonedPages). <paramref name="completed"/> ends the host's request.
    /// </summary>
    void BalloonedPages(VmHandle vm, long ballooned, ReadOnlySpan<PageId> pagesToFree, bool completed);

    /// <summary>
    /// Like <see cref="BalloonedPages"/>, for a caller that frees the <paramref name="pagesFreedLater"/> host
    /// pages itself (with <see cref="FreePages"/>) once no thread can still be reading them: the pages this
    /// balloon takes from the guest, and any the caller retired earlier and has not freed yet. No guest page
    /// uses them any more, so the account check counts them as gone (else a valid inflate is refused while
    /// readers hold retired pages back).
    /// </summary>
    void BalloonedPagesFreedLater(VmHandle vm, long ballooned, long pagesFreedLater, bool completed);

    /// <summary>The guest took <paramref name="pages"/> pages back out of its balloon (seed: GMMR0DeflatedBalloon).</summary>
    void DeflatedBalloon(VmHandle vm, long pages);

    /// <summary>The VM was reset: its balloon is empty again.</summary>
    void ResetBalloon(VmHandle vm);

    /// <summary>
    /// The caller has just freed pages here and there (reset, balloon, sharing): the Gmm hands the memory
    /// of free pages inside used chunks back to the host now if <see cref="GmmOptions.ReturnFreedPagesAtOnce"/>
    /// says so, and otherwise leaves it to compaction. Returns how many pages went back.
    /// </summary>
    long SettleFreedPages();

    /// <summary>
    /// Maps chunk <paramref name="mapChunk"/> into the VM and/or unmaps <paramref name="unmapChunk"/> (0 = none),
    /// returning the mapped chunk's host address (seed: GMMR0MapUnmapChunk).
    /// </summary>
    nint MapUnmapChunk(VmHandle vm, int mapChunk, int unmapChunk);
}
