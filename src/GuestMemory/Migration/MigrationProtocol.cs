using GuestMemory.State;

namespace GuestMemory.Migration;

/// <summary>
/// The constants of the migration protocol, version 1 (docs/migration-protocol.md is the full
/// description). A connection carries frames in both directions; each frame has the shape of a
/// saved-state block header (tag, sequence number, length, CRC-32C) followed by its payload, so page
/// frames are written by the saved-state writer itself and hold the same records.
/// </summary>
/// <remarks>
/// <para><b>Why frames like blocks.</b> A receiver reads a whole frame and checks its CRC before it acts
/// on any of it, so a corrupted byte anywhere is refused before it reaches guest memory; the sequence
/// number (per direction, from 0) catches a lost, repeated or reordered frame; the length is bounded
/// before the payload is read, so a receiver never allocates by a length it has not checked.</para>
/// </remarks>
internal static class MigrationProtocol
{
    /// <summary>The first eight bytes of a HELLO payload.</summary>
    public static ReadOnlySpan<byte> Magic => "GMMIGRAT"u8;

    /// <summary>The only version this library speaks.</summary>
    public const uint Version = 1;

    /// <summary>Frame header: tag, sequence number, payload length, CRC-32C (the saved-state block header's shape).</summary>
    public const int FrameHeaderBytes = SavedStateFormat.BlockHeaderBytes;

    /// <summary>The largest payload of any frame: a page frame of records, like a saved-state block.</summary>
    public const int MaxPayload = SavedStateFormat.MaxBlockPayload;

    /// <summary>The largest payload of any frame that is not a page frame (all of them are small).</summary>
    public const int MaxControlPayload = 64 << 10;

    /// <summary>Content keys in one hash query at most (16 bytes each).</summary>
    public const int MaxQueryKeys = 1024;

    /// <summary>Bytes of a name or a sharing domain in HELLO, and of an error message, at most (UTF-8).</summary>
    public const int MaxText = 1024;
}

/// <summary>
/// The kinds of frame, as their four-byte ASCII tag read little-endian (so a hex dump shows the name).
/// Source to target: HELO, QURY, PAGE, PEND, STOP, CMIT, RSUM, BYE!; target to source: ACPT, RFSE,
/// ANSR, CMTD, RSMD; ABRT either way.
/// </summary>
internal enum MessageType : uint
{
    /// <summary>"HELO": protocol version, mode, the VM's options, layout and page counts.</summary>
    Hello = 0x4F4C4548,
    /// <summary>"ACPT": the target created the VM and will stage it.</summary>
    Accept = 0x54504341,
    /// <summary>"RFSE": the target refused before anything was staged: error code and message.</summary>
    Refuse = 0x45534652,
    /// <summary>"QURY": content keys of pages the source is about to send.</summary>
    HashQuery = 0x59525551,
    /// <summary>"ANSR": a bitmap of the queried contents the target holds (and now keeps for this image).</summary>
    HashAnswer = 0x52534E41,
    /// <summary>"PAGE": page records, exactly a saved-state block payload plus CONTENT_REF and DUPLICATE.</summary>
    Pages = 0x45474150,
    /// <summary>"PEND": a pass covered every page; records per kind, for the target to check.</summary>
    PassEnd = 0x444E4550,
    /// <summary>"STOP": the source paused the guest; the next pass is the final one.</summary>
    Stop = 0x504F5453,
    /// <summary>"CMIT": the image is complete; its figures.</summary>
    Commit = 0x54494D43,
    /// <summary>"CMTD": the target checked and committed the image (a move: the VM is ready, not yet running).</summary>
    Committed = 0x44544D43,
    /// <summary>"RSUM": the source's decision: the target runs the VM from now on.</summary>
    Resume = 0x4D555352,
    /// <summary>"RSMD": the target resumed the VM.</summary>
    Resumed = 0x444D5352,
    /// <summary>"ABRT": the sender gives up; error code and message. The receiver discards what the session built.</summary>
    Abort = 0x54524241,
    /// <summary>"BYE!": a mirror's source ends mirroring; the standby keeps its last checkpoint.</summary>
    Bye = 0x21455942,
}

/// <summary>What a session does with the VM.</summary>
public enum MigrationMode
{
    /// <summary>A live move: the VM runs on the target afterwards and is destroyed on the source.</summary>
    Move = 1,
    /// <summary>Mirroring: consistent checkpoints to a standby that can take over.</summary>
    Mirror = 2,
}
