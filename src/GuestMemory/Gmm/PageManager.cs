using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using GuestMemory.Host;

namespace GuestMemory.Gmm;

/// <summary>
/// The Global Memory Manager proper (seed: GMMR0): host pages in 2 MiB chunks, one 64-bit state word
/// per page, chunk free sets, per-VM reservations and accounts, shared pages, balloon accounting,
/// statistics and a consistency check.
/// </summary>
/// <remarks>
/// <para><b>Invariants.</b> A chunk's free, private and shared counts add up to 512 and match its state
/// words; its free list holds exactly its free pages. Every private page names its VM, account and
/// guest frame; every shared page's reference count equals the sum of the VMs' references to it. The
/// global counters equal the sums over chunks and VMs. <see cref="Verify"/> recounts all of it.</para>
/// <para><b>Allocation order.</b> A VM takes pages from the fullest chunk of its own affinity set, then
/// from a spare empty chunk, then from a newly committed chunk; only when the host gives no new chunk
/// does it take pages from other chunks, fullest first. Shared pages live in a set of their own.
/// A chunk whose pages are all free goes back to the host unless it is one of the spare chunks.</para>
/// <para><b>Locking.</b> One lock (<c>_lock</c>) guards every field here, in every chunk, free set and
/// <see cref="GmmVm"/>. Calls never block on anything else while holding it, except the madvise that
/// commits or releases a chunk. Callers above (a VM's lock) may call in while holding their own lock;
/// the Gmm never calls out. Zeroing of newly allocated pages happens after the lock is released.</para>
/// </remarks>
public sealed unsafe partial class PageManager : IGmm, IDisposable
{
    private readonly RankedLock _lock = new(LockRank.Gmm);
    private readonly GmmOptions _options;
    private readonly ChunkIdMap _chunks;
    private readonly FreeSet _sharedSet = new("shared");
    private readonly FreeSet _orphanSet = new(OrphanSetName);
    /// <summary>The one free set of every VM when placement has no VM affinity (else unused).</summary>
    private readonly FreeSet _commonSet = new("common");
    private readonly Stack<Chunk> _spareChunks = new();
    private readonly Stack<Chunk> _chunkObjectPool = new();
    private GmmVm?[] _vms = new GmmVm?[16];
    private int _vmCount;
    /// <summary>Every VM slot below this one is taken, so the search for a free slot starts here (registration stays O(1) amortised).</summary>
    private int _noFreeVmSlotBelow = 1;
    /// <summary>The generation of the last registration (handles name slot and generation, see <see cref="VmHandle"/>).</summary>
    private uint _lastGeneration;
    private long _reservedPages;
    private long _noOvercommitReserved;
    private long _privatePages;
    private long _sharedPages;
    private long _sharedReferences;
    private long _ballooned;
    private long _freedChunks;
    private long _discardedPages;
    private bool _disposed;

    /// <summary>The name of the set of chunks whose VM is gone (nothing is allocated there; the compactor empties them).</summary>
    internal const string OrphanSetName = "orphan";

    /// <summary>Creates a manager with its own reserved host range.</summary>
    public PageManager(GmmOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        Host = new HostMemory(options.MaxChunks);
        _chunks = new ChunkIdMap(options.MaxChunks);
        MaxPages = (long)options.MaxChunks * Paging.PagesPerChunk;
    }

    /// <summary>The host memory that backs every page.</summary>
    internal HostMemory Host { get; }

    /// <summary>The options the manager was created with.</summary>
    public GmmOptions Options => _options;

    /// <summary>Host pages the manager may hand out (the host memory limit in pages).</summary>
    public long MaxPages { get; }

    private long AllocatedHostPages => _privatePages + _sharedPages;

    /// <summary>The host address of a page's first byte (no validation; the id must be live).</summary>
    public byte* PageAddress(PageId page) => Host.PageAddress(page);

    /// <summary>A span over a live page, validated (for hosts that drive the Gmm directly).</summary>
    public Span<byte> GetPage(PageId page)
    {
        using (_lock.EnterScope())
        {
            (Chunk chunk, ulong word) = Find(page);
            if (PageWord.State(word) == HostPageState.Free)
                throw new GmmException(GmmError.PageAlreadyFree, $"{page} is free");
            _ = chunk;
        }
        return Host.PageSpan(page);
    }

    /// <summary>The state of a host page (for tests, tools and the compactor).</summary>
    public HostPageState GetPageState(PageId page)
    {
        using (_lock.EnterScope()) return PageWord.State(Find(page).Word);
    }

    /// <summary>The owner, account and guest frame of a private page (the private counterpart of <see cref="GetSharedPageInfo"/>).</summary>
    public (VmHandle Owner, GmmAccount Account, ulong GuestFrame) GetPrivatePageInfo(PageId page)
    {
        using (_lock.EnterScope())
        {
            ulong word = Find(page).Word;
            if (PageWord.State(word) != HostPageState.Private) throw new GmmException(GmmError.PageNotPrivate, $"{page} is not a private page");
            return (HandleOfSlot(PageWord.Vm(word)), PageWord.Account(word), PageWord.GuestFrame(word));
        }
    }

    /// <summary>Releases the host range. Every page address becomes invalid.</summary>
    public void Dispose()
    {
        using (_lock.EnterScope())
        {
            if (_disposed) return;
            _disposed = true;
        }
        Host.Dispose();
    }

    // ---- lookups (under the lock) ----

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private (Chunk Chunk, ulong Word) Find(PageId page)
    {
        Chunk? chunk = page.IsNil ? null : _chunks[page.ChunkId];
        if (chunk == null) ThrowPageNotFound(page);
        return (chunk, chunk.Pages[page.Index]);
    }

    /// <summary>Kept out of <see cref="Find"/> so that the lookup stays small enough to inline into the per-page loops.</summary>
    [DoesNotReturn]
    private static void ThrowPageNotFound(PageId page) => throw new GmmException(GmmError.PageNotFound, $"{page} is in no live chunk");

    private GmmVm GetVm(VmHandle handle)
    {
        if (_disposed) throw new ObjectDisposedException(nameof(PageManager));
        GmmVm? vm = handle.Value < _vms.Length ? _vms[handle.Value] : null;
        if (vm == null || vm.Handle.Generation != handle.Generation) throw new GmmException(GmmError.VmNotFound, $"{handle} is not a registered VM");
        return vm;
    }

    /// <summary>The full handle of the VM in <paramref name="slot"/> (a private page's word records the slot only).</summary>
    private VmHandle HandleOfSlot(ushort slot) => _vms[slot]?.Handle ?? new VmHandle(slot);

    // ---- chunk life cycle (under the lock) ----

    /// <summary>Commits a new chunk and parks it with the spares; throws (changing nothing) if the host refuses.</summary>
    private Chunk CommitChunk()
    {
        int id = _chunks.Reserve();
        if (id == 0) throw new GmmException(GmmError.HitGlobalLimit, "every chunk the host limit allows is in use");
        try
        {
            Host.Commit(id);
        }
        catch
        {
            _chunks.Unreserve(id);
            throw;
        }
        Chunk chunk = _chunkObjectPool.Count > 0 ? _chunkObjectPool.Pop() : new Chunk();
        chunk.Reset(id, zeroed: true);
        _chunks.Publish(chunk);
        _spareChunks.Push(chunk);
        return chunk;
    }

    /// <summary>A chunk whose last page was freed: keep it as a spare or give it back to the host.</summary>
    private void ChunkBecameEmpty(Chunk chunk)
    {
        chunk.Set?.Remove(chunk);
        if (_spareChunks.Count < _options.SpareEmptyChunks)
        {
            _spareChunks.Push(chunk);
            return;
        }
        ReleaseChunk(chunk, givenBack: true);
    }

    /// <param name="chunk">The chunk, already out of every set.</param>
    /// <param name="givenBack">False when rolling back a commit that never held a page.</param>
    private void ReleaseChunk(Chunk chunk, bool givenBack)
    {
        Host.Release(chunk.Id);
        foreach (GmmVm? vm in _vms) vm?.MappedChunks.Remove(chunk.Id);
        _chunks.Remove(chunk.Id);
        if (givenBack) _freedChunks++;
        _chunkObjectPool.Push(chunk);
    }

    /// <summary>Gives every spare chunk back to the host now (the compactor's last step).</summary>
    public int ReleaseSpareChunks(int keep = 0)
    {
        using (_lock.EnterScope())
        {
            int released = 0;
            while (_spareChunks.Count > Math.Max(0, keep))
            {
                ReleaseChunk(_spareChunks.Pop(), givenBack: true);
                released++;
            }
            return released;
        }
    }

    /// <summary>
    /// Makes sure <paramref name="count"/> pages can be taken for <paramref name="preferred"/> without failing
    /// half way: commits the new chunks needed, all or none. When the host gives no more chunks the rest
    /// comes from other sets' chunks; only if those are short too does it throw.
    /// </summary>
    private void EnsureCapacity(FreeSet preferred, long count)
    {
        long available = preferred.FreePages + (long)_spareChunks.Count * Paging.PagesPerChunk;
        if (count <= available) return;
        int needed = (int)((count - available + Paging.PagesPerChunk - 1) / Paging.PagesPerChunk);
        int allowed = Math.Min(needed, _options.MaxChunks - _chunks.Count);
        var committed = new List<Chunk>(allowed);
        try
        {
            for (int i = 0; i < allowed; i++) committed.Add(CommitChunk());
        }
        catch (GmmException e) when (e.Error == GmmError.HostOutOfMemory)
        {
            if (TotalFreePages() >= count) return; // the host is short, but other chunks have room
            RollBack(committed);
            throw;
        }
        if (committed.Count == needed || TotalFreePages() >= count) return;
        // Every chunk the limit allows is in use and the free pages left sit in chunks the compactor is
        // emptying (out of every set until it is done): none can be handed out now.
        RollBack(committed);
        throw new GmmException(GmmError.HitGlobalLimit, $"{count} pages are not free outside the chunks being compacted; try again once compaction is done");
    }

    /// <summary>Gives back chunks just committed by <see cref="EnsureCapacity"/> (the newest spares) when it fails.</summary>
    private void RollBack(List<Chunk> committed)
    {
        foreach (Chunk chunk in committed)
        {
            _spareChunks.Pop();
            ReleaseChunk(chunk, givenBack: false);
        }
    }

    private long TotalFreePages()
    {
        long free = (long)_spareChunks.Count * Paging.PagesPerChunk;
        foreach (FreeSet set in AllSets()) free += set.FreePages;
        return free;
    }

    /// <summary>Every free set once: shared, orphan, common, and each VM's own (when VMs have affinity).</summary>
    private IEnumerable<FreeSet> AllSets()
    {
        yield return _sharedSet;
        yield return _orphanSet;
        yield return _commonSet;
        if (!_options.Placement.VmAffinity) yield break;
        foreach (GmmVm? vm in _vms) if (vm != null) yield return vm.Affinity;
    }

    /// <summary>The next chunk to take pages from for <paramref name="preferred"/> (capacity already ensured).</summary>
    private Chunk NextChunk(FreeSet preferred)
    {
        Chunk? chunk = _options.Placement.FullestFirst ? preferred.Fullest() : preferred.Emptiest();
        if (chunk != null) return chunk;
        if (_spareChunks.Count > 0)
        {
            chunk = _spareChunks.Pop();
            preferred.Add(chunk);
            return chunk;
        }
        // The host gave no new chunk: take the fullest chunk anywhere.
        Chunk? best = null;
        foreach (FreeSet set in AllSets()) best = Better(best, set.Fullest());
        return best ?? throw new InvalidOperationException("capacity was ensured but no chunk has a free page");

        static Chunk? Better(Chunk? a, Chunk? b) => a == null ? b : b == null ? a : a.FreeCount <= b.FreeCount ? a : b;
    }
}
