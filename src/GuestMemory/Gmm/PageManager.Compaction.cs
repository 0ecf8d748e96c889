namespace GuestMemory.Gmm;

/// <summary>How full one chunk is, for compaction planning and the chunk map.</summary>
public readonly record struct ChunkOccupancy(int ChunkId, int PrivatePages, int SharedPages, int FreePages, int DiscardedPages, bool SharedSet, bool Spare)
{
    /// <summary>Pages in use.</summary>
    public int UsedPages => PrivatePages + SharedPages;
}

/// <summary>One chunk of the chunk map: each page's state and, for private pages, its VM.</summary>
public sealed record ChunkPicture(int ChunkId, HostPageState[] States, VmHandle[] Owners);

public sealed partial class PageManager
{
    /// <summary>Every committed chunk's occupancy, in id order.</summary>
    public IReadOnlyList<ChunkOccupancy> GetChunkOccupancy()
    {
        lock (_lock)
        {
            var spares = new HashSet<Chunk>(_spareChunks);
            return _chunks.All()
                .Select(c => new ChunkOccupancy(c.Id, c.PrivateCount, c.SharedCount, c.FreeCount, c.DiscardedCount, c.Set == _sharedSet, spares.Contains(c)))
                .ToArray();
        }
    }

    /// <summary>A picture of every chunk, page by page (for the chunk map report).</summary>
    public IReadOnlyList<ChunkPicture> GetChunkMap()
    {
        lock (_lock)
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
                    if (states[i] == HostPageState.Private) owners[i] = new VmHandle(PageWord.Vm(word));
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
        lock (_lock)
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
        lock (_lock)
        {
            Chunk? chunk = _chunks[chunkId];
            if (chunk is { Evacuating: true, Set: not null }) chunk.Set.Resume(chunk);
        }
    }

    /// <summary>The pages of a chunk as the Gmm sees them now.</summary>
    internal IReadOnlyList<(int Index, HostPageInfo Page)> GetChunkPages(int chunkId)
    {
        lock (_lock)
        {
            Chunk chunk = _chunks[chunkId] ?? throw new GmmException(GmmError.ChunkNotFound, $"chunk {chunkId} is not live");
            var pages = new List<(int, HostPageInfo)>();
            for (int i = 0; i < Paging.PagesPerChunk; i++)
            {
                if (PageWord.State(chunk.Pages[i]) == HostPageState.Free) continue;
                pages.Add((i, InspectPage(PageId.From(chunkId, i))));
            }
            return pages;
        }
    }

    /// <summary>
    /// A private page for <paramref name="vm"/> to move guest frame <paramref name="guestFrame"/> into,
    /// outside every evacuating chunk. No account check: the page it replaces is freed right after,
    /// so for a moment the VM holds one page more than it will.
    /// </summary>
    internal PageId AllocateMoveTarget(VmHandle vm, ulong guestFrame)
    {
        lock (_lock)
        {
            GmmVm owner = GetVm(vm);
            Span<PageDescriptor> one = [new PageDescriptor { GuestFrame = guestFrame }];
            AllocatePrivate(owner, GmmAccount.Base, one);
            return one[0].Page;
        }
    }
}
