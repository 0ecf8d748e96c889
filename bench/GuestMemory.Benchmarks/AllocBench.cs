using GuestMemory.Gmm;
using GuestMemory.Host;

namespace GuestMemory.Benchmarks;

/// <summary>
/// The whole-system allocation figures behind <c>gmm bench alloc</c>, each timed on real host memory with
/// <see cref="Timing"/>, and the metadata cost measured from what the managed structures really allocate.
/// </summary>
public static unsafe class AllocBench
{
    /// <summary>Pages per allocate/free call, as a VM refills its handy pages.</summary>
    public const int Batch = 128;
    private const int BatchesPerRun = 500;  // 64,000 pages, about a millisecond a run
    private const int FreshChunks = 16;     // 32 MiB a run for the first-use figures

    public static AllocFigures Run(Timing timing) => new()
    {
        AllocFreeNsPerPage = AllocateAndFree(timing),
        AllocZeroedNsPerPage = AllocateZeroed(timing),
        SpanClearNsPerPage = SpanClear(timing),
        NewChunkNsPerPage = FirstUseOfFreshChunks(timing),
        KernelFaultNsPerPage = KernelFaults(timing),
        GmmBytesPerHostPage = MetadataBytesPerHostPage(),
    };

    private static double AllocateAndFree(Timing timing)
    {
        using var bench = new WarmVm();
        return timing.BestNanoseconds((long)BatchesPerRun * Batch, () =>
        {
            for (int i = 0; i < BatchesPerRun; i++) bench.AllocateAndFree(zero: false);
        });
    }

    /// <summary>As <see cref="AllocateAndFree"/>, but zeroed: each page was freed dirty just before, so each is cleared.</summary>
    private static double AllocateZeroed(Timing timing)
    {
        using var bench = new WarmVm();
        return timing.BestNanoseconds((long)BatchesPerRun * Batch, () =>
        {
            for (int i = 0; i < BatchesPerRun; i++) bench.AllocateAndFree(zero: true);
        });
    }

    /// <summary>Clears 4 KiB pages round robin over 128 pages of a committed host chunk: the memory and working set a batch of zeroed allocations clears.</summary>
    private static double SpanClear(Timing timing)
    {
        using var host = new HostMemory(maxChunks: 1);
        host.Commit(1);
        return timing.BestNanoseconds((long)BatchesPerRun * Batch, () =>
        {
            for (int i = 0; i < BatchesPerRun; i++)
                for (int page = 0; page < Batch; page++)
                    host.PageSpan(PageId.From(1, page)).Clear();
        });
    }

    /// <summary>Allocate from chunks committed for this call, touch each page, free them so the chunks go back to the host.</summary>
    private static double FirstUseOfFreshChunks(Timing timing)
    {
        const int pages = FreshChunks * Paging.PagesPerChunk;
        using var gmm = new PageManager(new GmmOptions { HostMemoryLimit = (long)FreshChunks * Paging.ChunkSize, SpareEmptyChunks = 0 });
        VmHandle vm = gmm.RegisterVm("bench", new AccountPages(pages, 0, 0));
        var descriptors = new PageDescriptor[pages];
        var ids = new PageId[pages];
        return timing.BestNanoseconds(pages, () =>
        {
            gmm.AllocatePages(vm, GmmAccount.Base, descriptors, zero: true);
            for (int i = 0; i < pages; i++)
            {
                ids[i] = descriptors[i].Page;
                *gmm.PageAddress(ids[i]) = 1;
            }
            gmm.FreePages(vm, GmmAccount.Base, ids);
        });
    }

    /// <summary>mmap fresh anonymous memory, write one byte of each 4 KiB page (one fault each), munmap.</summary>
    private static double KernelFaults(Timing timing)
    {
        const long bytes = (long)FreshChunks * Paging.ChunkSize;
        return timing.BestNanoseconds(bytes / Paging.PageSize, () =>
        {
            nint memory = LinuxNative.Mmap(0, (nuint)bytes, LinuxNative.ProtRead | LinuxNative.ProtWrite, LinuxNative.MapPrivate | LinuxNative.MapAnonymous, -1, 0);
            if (memory == LinuxNative.MapFailed) throw new InvalidOperationException("mmap failed");
            for (long offset = 0; offset < bytes; offset += Paging.PageSize) *(byte*)(memory + (nint)offset) = 1;
            LinuxNative.Munmap(memory, (nuint)bytes);
        });
    }

    /// <summary>
    /// What the Gmm's structures cost per host page, measured as managed bytes allocated: a <see cref="Chunk"/>
    /// (object, 512 eight-byte state words, free-set links) plus its share of the chunk id table and bitmap,
    /// which are sized for every chunk the host limit allows, all over the chunk's 512 pages.
    /// </summary>
    private static double MetadataBytesPerHostPage()
    {
        const int chunks = 4096;
        var keep = new Chunk[chunks];
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < chunks; i++) keep[i] = new Chunk();
        long chunkBytes = GC.GetAllocatedBytesForCurrentThread() - before;
        before = GC.GetAllocatedBytesForCurrentThread();
        var map = new ChunkIdMap(chunks);
        long mapBytes = GC.GetAllocatedBytesForCurrentThread() - before;
        GC.KeepAlive(keep);
        GC.KeepAlive(map);
        return (chunkBytes + mapBytes) / (double)chunks / Paging.PagesPerChunk;
    }

    /// <summary>
    /// One VM on a manager whose chunks stay committed: it keeps a few pages of its own so its chunk never
    /// empties, and the manager keeps spares, so allocating and freeing never touches the host.
    /// </summary>
    private sealed class WarmVm : IDisposable
    {
        private readonly PageManager _gmm = new(new GmmOptions { HostMemoryLimit = 64L << 20, SpareEmptyChunks = 2 });
        private readonly VmHandle _vm;
        private readonly PageDescriptor[] _pages = new PageDescriptor[Batch];
        private readonly PageId[] _ids = new PageId[Batch];

        public WarmVm()
        {
            _vm = _gmm.RegisterVm("bench", new AccountPages(16_384, 0, 0));
            foreach (ref PageDescriptor d in _pages.AsSpan()) d.GuestFrame = PageDescriptor.NoGuestFrame;
            _gmm.AllocatePages(_vm, GmmAccount.Base, new PageDescriptor[Batch], zero: false);
        }

        /// <summary>One handy-page refill and its release. A freed page is not known zero, so a zeroed allocation clears it.</summary>
        public void AllocateAndFree(bool zero)
        {
            _gmm.AllocatePages(_vm, GmmAccount.Base, _pages, zero);
            for (int i = 0; i < _ids.Length; i++) _ids[i] = _pages[i].Page;
            _gmm.FreePages(_vm, GmmAccount.Base, _ids);
        }

        public void Dispose() => _gmm.Dispose();
    }
}
