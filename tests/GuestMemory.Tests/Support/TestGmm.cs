using GuestMemory.Gmm;

namespace GuestMemory.Tests.Support;

/// <summary>Small Gmm instances and one-line helpers, so each test states only what it is about.</summary>
internal static class TestGmm
{
    public const long Mib = 1L << 20;

    /// <summary>A manager over <paramref name="hostMib"/> MiB of host memory; no spare chunks unless asked, so chunk counts are exact.</summary>
    public static PageManager Create(int hostMib = 16, int spareChunks = 0, double overcommitRatio = 4.0) =>
        new(new GmmOptions { HostMemoryLimit = hostMib * Mib, SpareEmptyChunks = spareChunks, OvercommitRatio = overcommitRatio });

    /// <summary>Registers a VM with the given reservation (pages per account).</summary>
    public static VmHandle AddVm(this PageManager gmm, long basePages = 4096, long shadowPages = 64, long fixedPages = 16,
        OvercommitPolicy policy = OvercommitPolicy.Overcommit, VmPriority priority = VmPriority.Normal) =>
        gmm.RegisterVm("test", new AccountPages(basePages, shadowPages, fixedPages), policy, priority);

    /// <summary>Allocates <paramref name="count"/> pages backing no guest frame (frames are only set by tests about frames).</summary>
    public static PageId[] Allocate(this PageManager gmm, VmHandle vm, int count, GmmAccount account = GmmAccount.Base, bool zero = true) =>
        gmm.AllocateDescriptors(vm, count, account, zero).Select(d => d.Page).ToArray();

    /// <summary>Allocates pages and returns the filled-in descriptors (page id and zero flag).</summary>
    public static PageDescriptor[] AllocateDescriptors(this PageManager gmm, VmHandle vm, int count, GmmAccount account = GmmAccount.Base, bool zero = true)
    {
        var pages = new PageDescriptor[count];
        for (int i = 0; i < count; i++) pages[i].GuestFrame = PageDescriptor.NoGuestFrame;
        gmm.AllocatePages(vm, account, pages, zero);
        return pages;
    }

    /// <summary>Descriptors for the guest frames <paramref name="firstFrame"/>, +1, ….</summary>
    public static PageDescriptor[] Frames(ulong firstFrame, int count)
    {
        var pages = new PageDescriptor[count];
        for (int i = 0; i < count; i++) pages[i].GuestFrame = firstFrame + (ulong)i;
        return pages;
    }

    /// <summary>Frees private pages of the base account (or drops shared references).</summary>
    public static void Free(this PageManager gmm, VmHandle vm, params PageId[] pages) => gmm.FreePages(vm, GmmAccount.Base, pages);

    /// <summary>Distinct chunk ids of the pages.</summary>
    public static int[] ChunksOf(IEnumerable<PageId> pages) => pages.Select(p => p.ChunkId).Distinct().Order().ToArray();
}
