using System.Runtime.InteropServices;

namespace GuestMemory.Host;

/// <summary>
/// Real host memory for guest pages: the seed's RTR0MemObj role. One sparse virtual range is reserved
/// once; chunk <c>n</c> lives at <c>Base + n · 2 MiB</c>, so the host address of a page is a pure
/// function of its <see cref="Gmm.PageId"/> (<c>Base + id · 4 KiB</c>) and needs no lookup.
/// </summary>
/// <remarks>
/// <para><b>Why anonymous private memory with MAP_NORESERVE, not memfd.</b> The range costs nothing
/// until a chunk is committed. Anonymous memory can be backed by transparent huge pages
/// (MADV_HUGEPAGE works for it in the common "madvise" THP mode, while shmem/memfd THP is usually
/// off), so committing a 2 MiB chunk is one huge-page fault instead of 512 small ones, and guest
/// accesses miss the TLB far less. MADV_DONTNEED hands a chunk back to the kernel at once and the next
/// touch reads zeros, which is exactly the "known zeroed" state a fresh chunk needs. A memfd would
/// only pay off if another process had to map the chunks; GuestMemory keeps guest RAM in-process.</para>
/// <para><b>Committing.</b> <see cref="Commit"/> populates the whole chunk at once
/// (MADV_POPULATE_WRITE), so a host that cannot give the memory fails here, as a typed
/// <see cref="GmmError.HostOutOfMemory"/>, instead of killing the process on a later page fault.</para>
/// <para><b>Threads.</b> Commit and Release are called by the Gmm under its lock; reading and writing
/// page memory is free-threaded (the layers above decide who may touch which page).</para>
/// </remarks>
public sealed unsafe class HostMemory : IDisposable
{
    private readonly nint _mapping;
    private readonly nuint _mappingBytes;
    private readonly byte* _base;
    private int _committedChunks;
    private int _disposed;

    /// <summary>Reserves address space for chunk ids 1..<paramref name="maxChunks"/> (id 0 is NIL).</summary>
    public HostMemory(int maxChunks)
    {
        if (!OperatingSystem.IsLinux())
            throw new GmmException(GmmError.NotSupported, "GuestMemory backs guest RAM with Linux anonymous memory (mmap/madvise)");
        if (maxChunks < 1 || maxChunks > Gmm.PageId.MaxChunkId)
            throw new GmmException(GmmError.InvalidArgument, $"maxChunks must be 1..{Gmm.PageId.MaxChunkId}, not {maxChunks}");
        MaxChunks = maxChunks;
        _mappingBytes = (nuint)(maxChunks + 2) * Paging.ChunkSize;
        _mapping = LinuxNative.MapAnonymousNoReserve(_mappingBytes);
        if (_mapping == 0)
            throw new GmmException(GmmError.HostOutOfMemory, $"cannot reserve {_mappingBytes >> 20} MiB of address space (errno {Marshal.GetLastPInvokeError()})");
        _base = (byte*)(((ulong)_mapping + Paging.ChunkSize - 1) & ~(ulong)(Paging.ChunkSize - 1));
        HugePages = LinuxNative.Madvise((nint)_base, (nuint)(maxChunks + 1) * Paging.ChunkSize, LinuxNative.MadvHugePage) == 0;
    }

    /// <summary>The largest chunk id this host range can hold.</summary>
    public int MaxChunks { get; }

    /// <summary>Resident bytes of this host's reservation (guest memory alone), read from the kernel (<see cref="HostRss.ReadRangeBytes"/>).</summary>
    public long ResidentBytes() => HostRss.ReadRangeBytes(_mapping, (long)_mappingBytes);

    /// <summary>False once the range is unmapped (after <see cref="Dispose"/> and the last page mapping let go).</summary>
    internal bool IsMapped => Volatile.Read(ref _disposed) == 0;

    /// <summary>Chunks now backed by real memory.</summary>
    public int CommittedChunks => Volatile.Read(ref _committedChunks);

    /// <summary>True when the kernel accepted MADV_HUGEPAGE, so chunks can be single huge pages.</summary>
    public bool HugePages { get; }

    /// <summary>Test hook: when it returns true for a chunk id, <see cref="Commit"/> fails as the OS would.</summary>
    internal Func<int, bool>? InjectCommitFailure { get; set; }

    /// <summary>Host address of the first byte of a page. No validation: callers own valid ids.</summary>
    public byte* PageAddress(Gmm.PageId page) => _base + ((nint)page.Value << Paging.PageShift);

    /// <summary>Host address of a chunk's first byte.</summary>
    public byte* ChunkAddress(int chunkId) => _base + ((nint)chunkId << (Paging.PageShift + Paging.ChunkShift));

    /// <summary>A span over one page (for callers outside the hot paths).</summary>
    public Span<byte> PageSpan(Gmm.PageId page) => new(PageAddress(page), Paging.PageSize);

    /// <summary>Backs a chunk with real, zero-filled memory, all at once.</summary>
    /// <exception cref="GmmException"><see cref="GmmError.HostOutOfMemory"/> when the OS refuses; nothing is committed then.</exception>
    public void Commit(int chunkId)
    {
        CheckId(chunkId);
        nint at = (nint)ChunkAddress(chunkId);
        if (InjectCommitFailure?.Invoke(chunkId) == true)
            throw new GmmException(GmmError.HostOutOfMemory, $"the host refused memory for chunk {chunkId} (injected)");
        if (LinuxNative.Madvise(at, Paging.ChunkSize, LinuxNative.MadvPopulateWrite) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno == LinuxNative.EINVAL)
                TouchEveryPage((byte*)at); // kernel older than 5.14: fault the pages in by hand
            else
            {
                LinuxNative.Madvise(at, Paging.ChunkSize, LinuxNative.MadvDontNeed);
                throw new GmmException(GmmError.HostOutOfMemory, $"the host refused memory for chunk {chunkId} (errno {errno})");
            }
        }
        Interlocked.Increment(ref _committedChunks);
    }

    /// <summary>Gives a chunk's memory back to the OS now; the next touch would read zeros.</summary>
    public void Release(int chunkId)
    {
        CheckId(chunkId);
        if (LinuxNative.Madvise((nint)ChunkAddress(chunkId), Paging.ChunkSize, LinuxNative.MadvDontNeed) != 0)
            throw new InvalidOperationException($"madvise(DONTNEED) failed for chunk {chunkId}: errno {Marshal.GetLastPInvokeError()}");
        Interlocked.Decrement(ref _committedChunks);
    }

    /// <summary>
    /// Gives <paramref name="count"/> pages starting at <paramref name="first"/> back to the OS while their
    /// chunk stays committed (the chunk's huge page, if any, is split); they read as zero afterwards.
    /// </summary>
    public void Discard(Gmm.PageId first, int count)
    {
        if (count <= 0 || first.Index + count > Paging.PagesPerChunk) throw new GmmException(GmmError.InvalidArgument, $"{count} pages from {first} leave the chunk");
        CheckId(first.ChunkId);
        if (LinuxNative.Madvise((nint)PageAddress(first), (nuint)count * Paging.PageSize, LinuxNative.MadvDontNeed) != 0)
            throw new InvalidOperationException($"madvise(DONTNEED) failed for {count} pages at {first}: errno {Marshal.GetLastPInvokeError()}");
    }

    private static void TouchEveryPage(byte* chunk)
    {
        for (int offset = 0; offset < Paging.ChunkSize; offset += Paging.PageSize)
            Volatile.Write(ref chunk[offset], 0);
    }

    private void CheckId(int chunkId)
    {
        if ((uint)(chunkId - 1) >= (uint)MaxChunks)
            throw new GmmException(GmmError.ChunkNotFound, $"chunk id {chunkId} is outside 1..{MaxChunks}");
    }

    private int _mappingUses;
    private int _disposeRequested;

    /// <summary>
    /// A caller now holds a span over a page of this range (a guest page mapping): the range stays mapped
    /// until every such span is let go (<see cref="ReleaseMappingUse"/>), even past <see cref="Dispose"/>, so
    /// a mapping kept across the manager's disposal reads stale memory instead of crashing the process.
    /// </summary>
    internal void AddMappingUse() => Interlocked.Increment(ref _mappingUses);

    /// <summary>A span handed out with <see cref="AddMappingUse"/> is let go; the last one after Dispose unmaps.</summary>
    internal void ReleaseMappingUse()
    {
        if (Interlocked.Decrement(ref _mappingUses) == 0 && Volatile.Read(ref _disposeRequested) != 0) Unmap();
    }

    /// <summary>Unmaps the whole range (once no page mapping is held any more); every page address becomes invalid.</summary>
    public void Dispose()
    {
        // Interlocked: a full fence, so this store and the read below cannot pass each other (see ReleaseMappingUse).
        Interlocked.Exchange(ref _disposeRequested, 1);
        if (Volatile.Read(ref _mappingUses) == 0) Unmap();
        GC.SuppressFinalize(this);
    }

    /// <summary>Safety net: the range is unmapped even if the owner forgot to dispose.</summary>
    ~HostMemory() => Unmap();

    private void Unmap()
    {
        if (_mapping != 0 && Interlocked.Exchange(ref _disposed, 1) == 0)
            LinuxNative.Munmap(_mapping, _mappingBytes);
    }
}
