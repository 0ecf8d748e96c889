namespace GuestMemory.Gmm;

/// <summary>
/// A host page's id, the seed's idPage: <c>(chunkId &lt;&lt; 9) | index</c>. Zero is NIL (chunk 0 is
/// never used). The id also fixes the page's host address, see <see cref="Host.HostMemory.PageAddress"/>.
/// </summary>
public readonly record struct PageId(uint Value)
{
    /// <summary>The largest chunk id a 32-bit page id can name (16 TiB of host memory).</summary>
    public const int MaxChunkId = (int)(uint.MaxValue >> Paging.ChunkShift);

    /// <summary>No page.</summary>
    public static readonly PageId Nil = default;

    /// <summary>Builds the id of page <paramref name="index"/> of chunk <paramref name="chunkId"/>.</summary>
    public static PageId From(int chunkId, int index) => new(((uint)chunkId << Paging.ChunkShift) | (uint)index);

    /// <summary>The chunk that holds the page.</summary>
    public int ChunkId => (int)(Value >> Paging.ChunkShift);

    /// <summary>The page's index inside its chunk (0..511).</summary>
    public int Index => (int)(Value & (Paging.PagesPerChunk - 1));

    /// <summary>True for <see cref="Nil"/>.</summary>
    public bool IsNil => Value == 0;

    /// <inheritdoc/>
    public override string ToString() => IsNil ? "page:nil" : $"page:{ChunkId}/{Index}";
}

/// <summary>
/// A VM's handle in the Gmm (the seed's hGVM): its slot (1..65535, reused lowest first; zero is NIL)
/// and the generation of the registration that holds the slot. A slot is reused once its VM is gone,
/// but a generation never is, so a handle kept past its VM's destruction names no VM
/// (<see cref="GmmError.VmNotFound"/>) instead of silently naming the slot's next VM.
/// </summary>
public readonly record struct VmHandle
{
    /// <summary>A handle for <paramref name="slot"/> with <paramref name="generation"/> (0 names no registration: NIL or a made-up handle).</summary>
    public VmHandle(ushort slot, uint generation = 0)
    {
        Value = slot;
        Generation = generation;
    }

    /// <summary>No VM.</summary>
    public static readonly VmHandle Nil = default;

    /// <summary>The slot (1..65535): what a private page's state word records as its owner.</summary>
    public ushort Value { get; }

    /// <summary>Which registration of the slot this handle names (unique per manager, never reused).</summary>
    public uint Generation { get; }

    /// <inheritdoc/>
    public override string ToString() => $"vm:{Value}.{Generation}";
}

/// <summary>The three memory accounts of a VM (seed: GMMACCOUNT).</summary>
public enum GmmAccount
{
    /// <summary>Guest RAM and ROM: what the guest sees as its memory.</summary>
    Base = 0,
    /// <summary>Shadow page tables and other VMM structures that scale with guest RAM.</summary>
    Shadow = 1,
    /// <summary>Fixed-size VMM structures.</summary>
    Fixed = 2,
}

/// <summary>How a VM may be over-committed (seed: GMMOCPOLICY).</summary>
public enum OvercommitPolicy
{
    /// <summary>The reservation must be fully backed by host memory: no over-commit for this VM.</summary>
    NoOvercommit = 1,
    /// <summary>The reservation may be over-committed up to the host's configured ratio.</summary>
    Overcommit = 2,
}

/// <summary>A VM's priority when memory is short (seed: GMMPRIORITY).</summary>
public enum VmPriority
{
    /// <summary>Gives memory back first.</summary>
    Low = 1,
    /// <summary>The default.</summary>
    Normal = 2,
    /// <summary>Keeps its memory longest.</summary>
    High = 3,
}

/// <summary>
/// One page in a batch call, like the seed's GMMPAGEDESC: on the way in it names a page and the guest
/// frame it now backs; on the way out it names a newly allocated page and whether it is known zero.
/// </summary>
public struct PageDescriptor
{
    /// <summary>The host page.</summary>
    public PageId Page;
    /// <summary>The guest frame number (guest-physical address >> 12) the page backs, or <see cref="NoGuestFrame"/>.</summary>
    public ulong GuestFrame;
    /// <summary>On output: true when every byte of the page is zero.</summary>
    public bool Zeroed;

    /// <summary>Marks a page that backs no guest frame yet (a handy page).</summary>
    public const ulong NoGuestFrame = PageWord.NilGuestFrame;
}
