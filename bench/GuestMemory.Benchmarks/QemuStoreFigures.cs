namespace GuestMemory.Benchmarks;

/// <summary>What <see cref="QemuStoreBench"/> measured (docs/qemu-store.md, "Measured here").</summary>
public sealed record QemuStoreFigures
{
    public int Guests { get; init; }
    public int RamMib { get; init; }
    /// <summary>What each guest ran before it was suspended, in order.</summary>
    public IReadOnlyList<string> Workloads { get; init; } = [];
    /// <summary>All guests' RAM (every RAM block), bytes.</summary>
    public long GuestBytes { get; init; }
    /// <summary>The store's host pages after storing all guests (0 once their files are on disk and their RAM given back) plus its folder's bytes.</summary>
    public long StoredBytes { get; init; }
    public long StoreHostBytes { get; init; }
    public long StoreFileBytes { get; init; }
    /// <summary>The bytes of QEMU's own streams of the same guests (what <c>migrate "exec:cat > F"</c> writes).</summary>
    public long QemuStreamBytes { get; init; }
    /// <summary>Those streams after Debian's <c>zstd -3</c>.</summary>
    public long ZstdStreamBytes { get; init; }
    /// <summary>Seconds zstd took for all streams.</summary>
    public double ZstdSeconds { get; init; }
    /// <summary>Mean seconds to store one guest: <c>migrate tcp:</c> to the store until it is listed (on disk).</summary>
    public double StoreSeconds { get; init; }
    /// <summary>Mean seconds for QEMU to suspend the same guest to a file (<c>migrate "exec:cat > F"</c> until completed).</summary>
    public double QemuStoreSeconds { get; init; }
    /// <summary>Seconds from the store starting a guest's QEMU (<c>-S</c>) for the stored guest to that QEMU's confirmation that it loaded it (<see cref="GuestMemory.Qemu.QemuVmStore.ResumeGuestAsync"/>: the main RAM written into the guest's memfd, the rest through a stream); median of <see cref="QemuStoreBench.ResumeRounds"/>, taken in turns with the other two.</summary>
    public double ResumeSeconds { get; init; }
    /// <summary>Seconds from starting a target QEMU (<c>-incoming tcp:</c>, <c>-S</c>) to its confirmation that it loaded the stored guest, all of it through the stream (a QEMU the store does not own the RAM of).</summary>
    public double StreamResumeSeconds { get; init; }
    /// <summary>Seconds from starting a target QEMU with <c>-incoming "exec:cat F"</c> (<c>-S</c>) to its migration's completion (median of <see cref="QemuStoreBench.ResumeRounds"/>).</summary>
    public double QemuResumeSeconds { get; init; }
    /// <summary>The median over the rounds of each round's <see cref="ResumeSeconds"/> over <see cref="QemuResumeSeconds"/> (the resumes of a round run back to back, so a drift of the machine's speed between rounds cancels out).</summary>
    public double ResumeRatio { get; init; }
    /// <summary>The same for <see cref="StreamResumeSeconds"/>.</summary>
    public double StreamResumeRatio { get; init; }
    /// <summary>Host bytes the resumed guest's RAM (its memfd) holds right after the store's guest resume (median): its pages with content; zero pages stay holes.</summary>
    public long ResumeResidentBytes { get; init; }
    /// <summary>The same after QEMU loaded its own file: QEMU reads each zero page it is sent, which allocates it in shared memory.</summary>
    public long QemuResumeResidentBytes { get; init; }
    /// <summary>Bytes the store sent to move the last guest to a store that holds the others.</summary>
    public long RelayBytes { get; init; }
    /// <summary>The last guest's RAM, bytes.</summary>
    public long RelayGuestBytes { get; init; }
    /// <summary>The bytes QEMU's own live migration of the last guest (running) to a new QEMU sent (<c>query-migrate</c>'s transferred bytes).</summary>
    public long QemuMigrateBytes { get; init; }
    /// <summary>That migration's downtime as QEMU reports it, ms.</summary>
    public double QemuMigrateDowntimeMs { get; init; }
    /// <summary>Bytes host A sent host B in the live relay of the last guest (QEMU -> A -> B -> QEMU; B holds the other three).</summary>
    public long RelayLiveBytes { get; init; }
    /// <summary>The live relay's downtime, host B resuming into a guest it started as the relay began (its main RAM written into the guest's memfd): QMP STOP at the source QEMU to RESUME at the target QEMU, ms.</summary>
    public double RelayDowntimeMs { get; init; }
    /// <summary>The same with host B resuming into a QEMU waiting on TCP (the whole RAM through the stream).</summary>
    public double RelayStreamDowntimeMs { get; init; }
    /// <summary>Non-zero pages of all stored guests, and the distinct contents the store wrote.</summary>
    public long NonZeroPages { get; init; }
    public long SharedPages { get; init; }
}
