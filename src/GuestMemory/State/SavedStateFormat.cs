namespace GuestMemory.State;

/// <summary>
/// The constants of the saved-state format, version 1 (docs/saved-state-format.md is the full
/// description). A file is a header, a sequence of blocks of page records, and an END record.
/// </summary>
/// <remarks>
/// <para><b>Why blocks.</b> Records are grouped into blocks of at most <see cref="MaxBlockPayload"/>
/// bytes, each with its own CRC-32C, so a reader checks a whole block before it applies one of its
/// records, and needs one reusable buffer of that size however large the state is.</para>
/// <para><b>Why no SHA-256 over the file.</b> Measured here at 0.24–0.64 GB/s, it would cost both the
/// save and the restore more than their whole 0.5 GB/s budget allows. Every byte is already covered by
/// a CRC-32C (header, each block, END), which detects any error of up to 32 consecutive bits; what a
/// per-part check cannot see (a block lost, repeated or moved) is caught by the block sequence numbers
/// and by the file check in END: a CRC-32C chained over the header's and every block's CRC.</para>
/// </remarks>
internal static class SavedStateFormat
{
    /// <summary>"GMMSTATE": the first eight bytes of every saved state.</summary>
    public static ReadOnlySpan<byte> Magic => "GMMSTATE"u8;

    /// <summary>The only version this library writes and reads.</summary>
    public const uint Version = 1;

    /// <summary>The fixed part of the header before the range table (magic to counts).</summary>
    public const int HeaderFixedBytes = 64;

    /// <summary>One entry of the range table: start, size, type, ROM mode, padding.</summary>
    public const int RangeEntryBytes = 24;

    /// <summary>More ranges than this is an oversized file (the VM layouts here have a handful).</summary>
    public const int MaxRanges = 256;

    /// <summary>The largest header a reader accepts: the fixed part, a full range table and the CRC.</summary>
    public const int MaxHeaderBytes = HeaderFixedBytes + MaxRanges * RangeEntryBytes + sizeof(uint);

    /// <summary>"GBLK", little-endian: the start of a block.</summary>
    public const uint BlockMagic = 0x4B4C4247;

    /// <summary>"GEND", little-endian: the start of the END record that closes the file.</summary>
    public const uint EndMagic = 0x444E4547;

    /// <summary>Block header: magic, sequence number, payload length, CRC-32C.</summary>
    public const int BlockHeaderBytes = 16;

    /// <summary>
    /// The most payload bytes one block holds: 1 MiB, about 255 raw pages. Big enough that the per-block
    /// cost (16 bytes, one stream write, one CRC finalisation) is noise; small enough to buffer cheaply.
    /// </summary>
    public const int MaxBlockPayload = 1 << 20;

    /// <summary>Bytes of the END record, its CRC included.</summary>
    public const int EndBytes = 56;

    /// <summary>A run record: type byte and a 32-bit page count.</summary>
    public const int RunRecordBytes = 1 + sizeof(uint);

    /// <summary>The fields of a SHARED record before its page: 64-bit page hash, 32-bit content index.</summary>
    public const int SharedFieldBytes = sizeof(ulong) + sizeof(uint);

    /// <summary>The largest record (SHARED with its page).</summary>
    public const int MaxRecordBytes = 1 + SharedFieldBytes + Paging.PageSize;

    /// <summary>More passes than this is an oversized file (a live save converges in a few).</summary>
    public const uint MaxPasses = 1024;
}

/// <summary>The kinds of page record (the seed's ZERO, RAW, ROM, BALLOONED and END, plus sharing and passes).</summary>
internal enum RecordType : byte
{
    /// <summary>A run of RAM pages that read as zero: u32 count. Carries no data.</summary>
    Zero = 1,
    /// <summary>One RAM page: its 4096 bytes.</summary>
    Raw = 2,
    /// <summary>One ROM page: its 4096 bytes (shadow ROM may differ from its image).</summary>
    Rom = 3,
    /// <summary>A run of RAM pages in the guest's balloon: u32 count. Carries no data.</summary>
    Ballooned = 4,
    /// <summary>The first RAM page with a shared content: u64 page hash, u32 content index, 4096 bytes.</summary>
    Shared = 5,
    /// <summary>A RAM page with the content of an earlier SHARED record: u32 content index.</summary>
    SharedRef = 6,
    /// <summary>A run of pages unchanged since the previous pass: u32 count (passes after the first only).</summary>
    Skip = 7,
    /// <summary>Starts the next pass of a live save: u32 pass number; the page cursor goes back to 0.</summary>
    Pass = 8,
    /// <summary>
    /// Migration streams only (a saved state holding one is corrupt): a RAM page whose content the
    /// receiver already holds, named by its 128-bit content key (u64 page hash, u64 check hash).
    /// </summary>
    ContentRef = 9,
    /// <summary>
    /// Migration streams only: a RAM page with the content the sender sent earlier in the same image for
    /// the page at a position it names: content key, u64 position in the layout's page order.
    /// </summary>
    Duplicate = 10,
}
