namespace GuestMemory.Benchmarks;

/// <summary>The figures of <c>gmm bench state</c>; serialised with snake_case names for <c>--json</c>.</summary>
public sealed record StateFigures
{
    /// <summary>Guest RAM saved per second, GB (10^9 bytes) of guest RAM: best of the runs.</summary>
    public double SaveGbps { get; init; }
    /// <summary>Guest RAM restored into a fresh VM per second, GB of guest RAM: best of the runs.</summary>
    public double RestoreGbps { get; init; }
    /// <summary>Saved-state bytes per byte of guest RAM.</summary>
    public double FileBytesPerGuestByte { get; init; }
    /// <summary>The peer: a plain dump of guest RAM is one byte per byte.</summary>
    public double PlainDumpBytesPerGuestByte { get; init; }
    /// <summary>The plain dump through gzip (fastest level); 0 when skipped.</summary>
    public double GzipPlainDumpBytesPerGuestByte { get; init; }
    /// <summary>Guest RAM read into a plain dump per second, GB: the speed peer of the save.</summary>
    public double PlainDumpGbps { get; init; }
    /// <summary>Seconds gzip took over the plain dump; 0 when skipped.</summary>
    public double GzipSeconds { get; init; }
    /// <summary>Where the state went: "memory" (a preallocated MemoryStream) or "file" (/tmp, atomic save with fsync).</summary>
    public string Sink { get; init; } = "memory";
    /// <summary>Timed runs of the save and of the restore.</summary>
    public int Runs { get; init; }
    /// <summary>Guest RAM of the saved VM, bytes.</summary>
    public long GuestBytes { get; init; }
    /// <summary>Bytes of the saved state.</summary>
    public long StateBytes { get; init; }
    /// <summary>Best save time, seconds.</summary>
    public double SaveSeconds { get; init; }
    /// <summary>Best restore time, seconds.</summary>
    public double RestoreSeconds { get; init; }
    /// <summary>Pages written as ZERO.</summary>
    public long ZeroPages { get; init; }
    /// <summary>Pages written as RAW.</summary>
    public long RawPages { get; init; }
    /// <summary>Shared contents written (4 KiB each).</summary>
    public long SharedContents { get; init; }
    /// <summary>Pages written as a reference to a shared content.</summary>
    public long SharedReferences { get; init; }
    /// <summary>Pages the restore put on a shared page the host still had.</summary>
    public long RestoredSharedPages { get; init; }
    /// <summary>Pages the restore allocated up front (the header's non-zero count).</summary>
    public long PagesAllocatedUpFront { get; init; }
    /// <summary>True when the restored VM's memory equalled the source's, byte for byte, and the consistency check was clean.</summary>
    public bool Verified { get; init; }
}
