namespace GuestMemory.Migration;

/// <summary>How a target receives a VM.</summary>
public sealed record IncomingOptions
{
    /// <summary>
    /// Registers the ROM and MMIO ranges the source's layout has beside its RAM at 0 (MMIO handlers
    /// cannot come over the wire), right after the VM is created; the layouts must then be equal.
    /// </summary>
    public Action<VirtualMachine>? RegisterRanges { get; init; }

    /// <summary>Starts the moved VM's vCPUs when the source says RESUME (the VM's memory is committed by then).</summary>
    public Action<VirtualMachine>? Resume { get; init; }

    /// <summary>
    /// How long the target waits for the next frame to begin, the longest one frame may take to arrive once
    /// it has begun (so a peer that trickles a byte at a time cannot hold a session), and how long a write
    /// may take, before the connection counts as lost.
    /// </summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);

    internal void Validate()
    {
        if (Timeout <= TimeSpan.Zero || Timeout.TotalMilliseconds > int.MaxValue) throw new GmmException(GmmError.InvalidArgument, $"Timeout {Timeout} is out of range");
    }
}

/// <summary>What a target received.</summary>
public sealed record IncomingReport
{
    /// <summary>The VM as created from the source's options.</summary>
    public string VmName { get; init; } = "";
    /// <summary>Bytes read from the connection.</summary>
    public long BytesReceived { get; init; }
    /// <summary>Bytes written to the connection (answers, acknowledgements).</summary>
    public long BytesSent { get; init; }
    /// <summary>Images committed: 1 for a move, the checkpoints for a mirror.</summary>
    public int ImagesCommitted { get; init; }
    /// <summary>Passes of the last image committed.</summary>
    public int Passes { get; init; }
    /// <summary>Pages whose bytes arrived, over all images.</summary>
    public long PagesWithData { get; init; }
    /// <summary>Pages that arrived as a reference to a content (held here or sent earlier in the image).</summary>
    public long PagesByReference { get; init; }
    /// <summary>Contents this host supplied itself (from shared pages, or private pages of other VMs of the domain).</summary>
    public long ContentsFound { get; init; }
    /// <summary>Of those, private pages of other VMs that were turned into shared pages.</summary>
    public long PrivatePagesShared { get; init; }
    /// <summary>The last commit's duration.</summary>
    public TimeSpan LastCommit { get; init; }
}
