namespace GuestMemory;

/// <summary>The fixed geometry of guest and host memory: 4 KiB pages in 2 MiB chunks (512 pages).</summary>
public static class Paging
{
    /// <summary>log2 of the page size.</summary>
    public const int PageShift = 12;
    /// <summary>Bytes in a page (4 KiB).</summary>
    public const int PageSize = 1 << PageShift;
    /// <summary>Mask of the offset bits inside a page.</summary>
    public const long PageOffsetMask = PageSize - 1;
    /// <summary>log2 of the pages in a chunk (the seed's GMM_CHUNK_SHIFT).</summary>
    public const int ChunkShift = 9;
    /// <summary>Pages in a chunk (512).</summary>
    public const int PagesPerChunk = 1 << ChunkShift;
    /// <summary>Bytes in a chunk (2 MiB, the size of an x86-64 or arm64 huge page).</summary>
    public const int ChunkSize = PagesPerChunk * PageSize;
}
