namespace GuestMemory.Gmm;

public sealed partial class PageManager
{
    // The seed-shaped entry points for hosts that drive the Gmm directly (seed: the GMMR0*Req calls). They act
    // on VMs such a host registered with RegisterVm. The pages of a VM made by GlobalMemoryManager.CreateVm
    // belong to its guest-physical memory, whose page entries point at them: freeing or allocating them
    // behind its back (a page the guest still maps, say) would break it, so these refuse such a VM with
    // NotPageOwner and change nothing. GuestMemory's own layers reach the same code through Port.

    /// <inheritdoc/>
    public void AllocatePages(VmHandle vm, GmmAccount account, Span<PageDescriptor> pages, bool zero)
    {
        RefuseManaged(vm);
        AllocatePagesCore(vm, account, pages, zero);
    }

    /// <inheritdoc/>
    public int AllocateHandyPages(VmHandle vm, ReadOnlySpan<PageDescriptor> updates, Span<PageDescriptor> newPages)
    {
        RefuseManaged(vm);
        return AllocateHandyPagesCore(vm, updates, newPages);
    }

    /// <inheritdoc/>
    public void FreePages(VmHandle vm, GmmAccount account, ReadOnlySpan<PageId> pages)
    {
        RefuseManaged(vm);
        FreePagesCore(vm, account, pages);
    }

    /// <inheritdoc/>
    public PageId AllocateSharedPage(VmHandle vm, uint checksum)
    {
        RefuseManaged(vm);
        return AllocateSharedPageCore(vm, checksum);
    }

    /// <inheritdoc/>
    public void AddSharedReference(VmHandle vm, PageId shared)
    {
        RefuseManaged(vm);
        AddSharedReferenceCore(vm, shared);
    }

    /// <inheritdoc/>
    public void BalloonedPages(VmHandle vm, long ballooned, ReadOnlySpan<PageId> pagesToFree, bool completed)
    {
        RefuseManaged(vm);
        BalloonedPagesCore(vm, ballooned, pagesToFree, completed);
    }

    /// <inheritdoc/>
    public void BalloonedPagesFreedLater(VmHandle vm, long ballooned, long pagesFreedLater, bool completed)
    {
        RefuseManaged(vm);
        BalloonedPagesFreedLaterCore(vm, ballooned, pagesFreedLater, completed);
    }

    /// <inheritdoc/>
    public void DeflatedBalloon(VmHandle vm, long pages)
    {
        RefuseManaged(vm);
        DeflatedBalloonCore(vm, pages);
    }

    /// <inheritdoc/>
    public void ResetBalloon(VmHandle vm)
    {
        RefuseManaged(vm);
        ResetBalloonCore(vm);
    }

    /// <summary>
    /// Unregisters a VM (seed: GMMR0CleanupVM): frees its private pages wherever they are, drops its
    /// shared references, empties its balloon and gives emptied chunks back to the host.
    /// </summary>
    /// <exception cref="GmmException"><see cref="GmmError.VmNotFound"/>; <see cref="GmmError.NotPageOwner"/> for a VM of
    /// <see cref="GlobalMemoryManager.CreateVm"/> (destroy it through the manager).</exception>
    public void DestroyVm(VmHandle vm)
    {
        RefuseManaged(vm);
        DestroyVmCore(vm);
    }

    /// <summary>The same entry points without the refusal, for GuestMemory's own layers (the interface Phys talks through).</summary>
    internal IGmm Port => _port ??= new ManagedPort(this);

    private IGmm? _port;

    private void RefuseManaged(VmHandle vm)
    {
        using (_lock.EnterScope())
            if (GetVm(vm).Managed)
                throw new GmmException(GmmError.NotPageOwner, $"{vm}'s pages belong to its guest-physical memory (a VM of GlobalMemoryManager.CreateVm): change them through the VM");
    }

    private sealed class ManagedPort(PageManager gmm) : IGmm
    {
        public int AllocateHandyPages(VmHandle vm, ReadOnlySpan<PageDescriptor> updates, Span<PageDescriptor> newPages) => gmm.AllocateHandyPagesCore(vm, updates, newPages);
        public void AllocatePages(VmHandle vm, GmmAccount account, Span<PageDescriptor> pages, bool zero) => gmm.AllocatePagesCore(vm, account, pages, zero);
        public void FreePages(VmHandle vm, GmmAccount account, ReadOnlySpan<PageId> pages) => gmm.FreePagesCore(vm, account, pages);
        public PageId AllocateSharedPage(VmHandle vm, uint checksum) => gmm.AllocateSharedPageCore(vm, checksum);
        public void AddSharedReference(VmHandle vm, PageId shared) => gmm.AddSharedReferenceCore(vm, shared);
        public void BalloonedPages(VmHandle vm, long ballooned, ReadOnlySpan<PageId> pagesToFree, bool completed) => gmm.BalloonedPagesCore(vm, ballooned, pagesToFree, completed);
        public void BalloonedPagesFreedLater(VmHandle vm, long ballooned, long pagesFreedLater, bool completed) => gmm.BalloonedPagesFreedLaterCore(vm, ballooned, pagesFreedLater, completed);
        public void DeflatedBalloon(VmHandle vm, long pages) => gmm.DeflatedBalloonCore(vm, pages);
        public void ResetBalloon(VmHandle vm) => gmm.ResetBalloonCore(vm);
        public long SettleFreedPages() => gmm.SettleFreedPages();
        public nint MapUnmapChunk(VmHandle vm, int mapChunk, int unmapChunk) => gmm.MapUnmapChunk(vm, mapChunk, unmapChunk);
    }
}
