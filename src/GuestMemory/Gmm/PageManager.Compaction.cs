using System.Runtime.CompilerServices;

namespace GuestMemory.Gmm;

/// <summary>How full one chunk is, for compaction planning and the chunk map.</summary>
/// <param name="ChunkId">The chunk.</param>
/// <param name="PrivatePages">Private pages in it.</param>
/// <param name="SharedPages">Shared pages in it.</param>
/// <param name="FreePages">Free pages in it.</param>
/// <param name="DiscardedPages">Free pages whose memory is already back with the host.</param>
/// <param name="SharedSet">True when it belongs to the shared pages' set.</param>
/// <param name="Spare">True when it is an empty chunk kept for reuse.</param>
/// <param name="Set">The name of the free set it belongs to ("vm 3", "shared", "orphan", "common"), or "spare".</param>
public readonly record struct ChunkOccupancy(int ChunkId, int PrivatePages, int SharedPages, int FreePages, int DiscardedPages, bool SharedSet, bool Spare, string Set)
{
    /// <summary>Pages in use.</summary>
    public int UsedPages => PrivatePages + SharedPages;
}

/// <summary>One chunk of the chunk map: each page's state and, for private pages, its VM.</summary>
public sealed record ChunkPicture(int ChunkId, HostPageState[] States, VmHandle[] Owners);

/// <summary>A private page the compactor may move: its VM and the guest frame it backs.</summary>
internal readonly record struct MovablePage(PageId Page, VmHandle Vm, ulong GuestFrame);

public sealed partial class PageManager
{
    /// <summary>Every committed chunk's occupancy, in id order.</summary>
    public IReadOnlyList<ChunkOccupancy> GetChunkOccupancy()
    {
        using (_lock.EnterScope())
        {
            var spares = new HashSet<Chunk>(_spareChunks);
            return _chunks.All()
                .Select(c => new ChunkOccupancy(c.Id, c.PrivateCount, c.SharedCount, c.FreeCount, c.DiscardedCount, c.Set == _sharedSet, spares.Contains(c),
                    c.Set?.Name ?? "spare"))
                .ToArray();
        }
    }

    /// <summary>A picture of every chunk, page by page (for the chunk map report).</summary>
    public IReadOnlyList<ChunkPicture> GetChunkMap()
    {
        using (_lock.EnterScope())
        {
            var pictures = new List<ChunkPicture>(_chunks.Count);
            foreach (Chunk chunk in _chunks.All())
            {
                var states = new HostPageState[Paging.PagesPerChunk];
                var owners = new VmHandle[Paging.PagesPerChunk];
                for (int i = 0; i < Paging.PagesPerChunk; i++)
                {
                    ulong word = chunk.Pages[i];
                    states[i] = PageWord.State(word);
                    if (states[i] == HostPageState.Private) owners[i] = HandleOfSlot(PageWord.Vm(word));
                }
                pictures.Add(new ChunkPicture(chunk.Id, states, owners));
            }
            return pictures;
        }
    }

    /// <summary>
    /// Takes a chunk out of allocation so the compactor can empty it. Returns false for a chunk that is
    /// not live, is spare, or is already being evacuated.
    /// </summary>
    internal bool BeginEvacuation(int chunkId)
    {
        using (_lock.EnterScope())
        {
            Chunk? chunk = _chunks[chunkId];
            if (chunk?.Set == null || chunk.Evacuating) return false;
            chunk.Set.Suspend(chunk);
            return true;
        }
    }

    /// <summary>Gives a chunk back to allocation (if it still has pages; an emptied one is already gone).</summary>
    internal void EndEvacuation(int chunkId)
    {
        using (_lock.EnterScope())
        {
            Chunk? chunk = _chunks[chunkId];
            if (chunk is { Evacuating: true, Set: not null }) chunk.Set.Resume(chunk);
        }
    }

    /// <summary>
    /// Appends the pages of an evacuating chunk that can move: private base pages that back a guest
    /// frame, and shared pages. Appends nothing once the chunk is no longer evacuating (it emptied and
    /// went back, and its id may already name a new chunk). One lock for the whole chunk.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // rare and long: skip the unoptimised tier
    internal void CollectMovablePages(int chunkId, List<MovablePage> privatePages, List<PageId> sharedPages)
    {
        using (_lock.EnterScope())
        {
            Chunk? chunk = _chunks[chunkId];
            if (chunk is not { Evacuating: true }) return;
            for (int i = 0; i < Paging.PagesPerChunk; i++)
            {
                ulong word = chunk.Pages[i];
                switch (PageWord.State(word))
                {
                    case HostPageState.Private when PageWord.Account(word) == GmmAccount.Base && PageWord.GuestFrame(word) != PageWord.NilGuestFrame:
                        privatePages.Add(new MovablePage(PageId.From(chunkId, i), HandleOfSlot(PageWord.Vm(word)), PageWord.GuestFrame(word)));
                        break;
                    case HostPageState.Shared:
                        sharedPages.Add(PageId.From(chunkId, i));
                        break;
                }
            }
        }
    }

    /// <summary>
    /// How many pages the compactor may take for <paramref name="vm"/> to move its pages into, now: within
    /// the VM's base account (so allocated + ballooned never exceeds the reservation, even for a moment,
    /// and a guest that balloons up to its limit is not refused because a move is under way) and within
    /// the host limit. The page a copy replaces counts until it is freed, after readers moved on.
    /// </summary>
    internal (long Account, long Host) MoveRoom(VmHandle vm)
    {
        using (_lock.EnterScope()) return (GetVm(vm).Headroom(GmmAccount.Base), HostRoom());
    }

    /// <summary>
    /// Private pages for <paramref name="vm"/> to move guest pages into, one per descriptor (its guest
    /// frame set by the caller), outside every evacuating chunk: the VM's fullest chunk first. Returns
    /// how many were given: fewer when the VM's account or the host limit leaves no room for all
    /// (<see cref="MoveRoom"/>).
    /// </summary>
    /// <exception cref="GmmException"><see cref="GmmError.HostOutOfMemory"/> when the OS refuses a new chunk and no other has room.</exception>
    internal int AllocateMoveTargets(VmHandle vm, Span<PageDescriptor> pages)
    {
        using (_lock.EnterScope())
        {
            GmmVm owner = GetVm(vm);
            int granted = (int)Math.Clamp(Math.Min(owner.Headroom(GmmAccount.Base), HostRoom()), 0, pages.Length);
            if (granted > 0) AllocatePrivate(owner, GmmAccount.Base, pages[..granted]);
            return granted;
        }
    }

    /// <summary>Pages that can still be handed out: free pages outside evacuating chunks, spares, and chunks the limit still allows.</summary>
    private long HostRoom() => Math.Min(TotalFreePages() + (long)(_options.MaxChunks - _chunks.Count) * Paging.PagesPerChunk, MaxPages - AllocatedHostPages);
}
