namespace GuestMemory;

/// <summary>
/// Every way a GuestMemory operation can fail. Each public operation that fails throws a
/// <see cref="GmmException"/> carrying one of these codes and leaves all state as it was.
/// The first group mirrors the seed's GMM status codes; later groups belong to the layers above.
/// </summary>
public enum GmmError
{
    /// <summary>An argument is out of its documented range (a count, a size, an enum value).</summary>
    InvalidArgument = 1,

    // --- Global Memory Manager (seed: VERR_GMM_*) ---
    /// <summary>The allocation would take more host pages than the host memory limit allows.</summary>
    HitGlobalLimit,
    /// <summary>The allocation would exceed what the VM reserved for that account.</summary>
    HitVmAccountLimit,
    /// <summary>More pages were to be freed (or ballooned) than the VM has.</summary>
    AttemptToFreeTooMuch,
    /// <summary>More pages were to be deflated than the VM has ballooned.</summary>
    AttemptToDeflateTooMuch,
    /// <summary>The page id names no page of a live chunk.</summary>
    PageNotFound,
    /// <summary>The page is not a private page (it is shared or free).</summary>
    PageNotPrivate,
    /// <summary>The page is not a shared page.</summary>
    PageNotShared,
    /// <summary>The page is already free (a double free).</summary>
    PageAlreadyFree,
    /// <summary>The private page belongs to another VM, or to another account of this VM.</summary>
    NotPageOwner,
    /// <summary>The chunk id names no live chunk.</summary>
    ChunkNotFound,
    /// <summary>The chunk is already mapped into this VM.</summary>
    ChunkAlreadyMapped,
    /// <summary>The chunk is not mapped into this VM.</summary>
    ChunkNotMapped,
    /// <summary>The reservation does not fit the over-commit policy of the host.</summary>
    ReservationDeclined,
    /// <summary>The VM handle names no registered VM.</summary>
    VmNotFound,
    /// <summary>The VM table is full (65,535 VMs).</summary>
    TooManyVms,
    /// <summary>The operating system refused to give memory (mmap, populate or a cgroup limit).</summary>
    HostOutOfMemory,
    /// <summary>The operation is not available on this operating system.</summary>
    NotSupported,
    /// <summary><c>Verify()</c> found state that does not add up; the message lists every mismatch.</summary>
    ConsistencyCheckFailed,

    // --- Guest physical memory (seed: PGM) ---
    /// <summary>The guest-physical address lies in no registered range, or the access runs past its range.</summary>
    AddressNotMapped,
    /// <summary>A range registration is unaligned, empty, overlapping or too large.</summary>
    InvalidRange,
    /// <summary>The address must be page aligned for this operation.</summary>
    UnalignedAddress,
    /// <summary>The guest wrote to a page it has given to the balloon.</summary>
    PageBallooned,
    /// <summary>The page is mapped (locked) and cannot change its backing now.</summary>
    PageLocked,
    /// <summary>The VM has been destroyed.</summary>
    VmDestroyed,
    /// <summary>The page is not RAM (it is ROM or MMIO) and the operation needs RAM.</summary>
    NotRam,

    // --- Ballooning ---
    /// <summary>
    /// A balloon target would take the VM below its minimum RAM or leave it more than its maximum
    /// (see <see cref="VmOptions.MinimumRam"/> and <see cref="VmOptions.MaximumRam"/>).
    /// </summary>
    BalloonTargetOutOfRange,
    // --- Saved state (seed: pgmR3Load / SSM errors) ---
    /// <summary>The saved state ends before its END record: the stream was cut short.</summary>
    StateTruncated,
    /// <summary>The saved state fails a check: a CRC, a magic number, a record that does not fit the layout or the counts.</summary>
    StateCorrupt,
    /// <summary>The saved state was written in a format version this library does not read.</summary>
    StateVersionUnsupported,
    /// <summary>The saved state declares more than the format allows (ranges, pages, a block) or than its own layout holds.</summary>
    StateTooLarge,
    /// <summary>The saved state's RAM/ROM/MMIO layout is not the layout of the VM it is restored into.</summary>
    StateLayoutMismatch,

    // --- Migration (moving or mirroring a VM to another host) ---
    /// <summary>The target refused the VM before anything was sent; the inner exception is the target's own error (a Gmm limit, a layout mismatch...).</summary>
    MigrationRefused,
    /// <summary>The peer ended the session with ABORT; the inner exception is the peer's error. Both sides discarded what the session built.</summary>
    MigrationAborted,
    /// <summary>The connection dropped, timed out or ended in the middle of the session.</summary>
    MigrationConnectionLost,
    /// <summary>A frame failed its checks (CRC-32C, sequence number, length, tag) or a message does not fit the protocol.</summary>
    MigrationStreamCorrupt,
    /// <summary>The peer speaks another version of the migration protocol.</summary>
    MigrationVersionUnsupported,
    /// <summary>
    /// The connection dropped after the source told the target to resume the VM and before the target
    /// confirmed: the target may be running it. The source keeps its copy paused; the caller decides.
    /// </summary>
    MigrationInDoubt,

    // --- Added later (values above stay as they are: they cross the wire in REFUSE and ABORT) ---
    /// <summary>A live VM of this manager already has that name (names label metrics, logs and stores).</summary>
    VmNameInUse,
}

/// <summary>The exception every failing GuestMemory operation throws; <see cref="Error"/> says why.</summary>
public sealed class GmmException : Exception
{
    /// <summary>Creates the exception for <paramref name="error"/> with a human-readable message.</summary>
    public GmmException(GmmError error, string message) : base($"{error}: {message}") => Error = error;

    /// <summary>Creates the exception with an inner cause (an OS error, a stream error).</summary>
    public GmmException(GmmError error, string message, Exception inner) : base($"{error}: {message}", inner) => Error = error;

    /// <summary>The typed reason, for callers that act on it.</summary>
    public GmmError Error { get; }

    internal static GmmException Throw(GmmError error, string message) => throw new GmmException(error, message);
}
