namespace GuestMemory.Qemu;

/// <summary>One of QEMU's RAM blocks as its migration stream lists it: <c>pc.ram</c>, the BIOS, option ROMs, video RAM...</summary>
/// <param name="Id">QEMU's id of the block (1-255 bytes), the key a target QEMU finds it by.</param>
/// <param name="Length">Its used length in bytes, a whole number of pages.</param>
public sealed record RamBlock(string Id, long Length)
{
    /// <summary>Its length in pages.</summary>
    public long Pages => Length / QemuStreamFormat.PageSize;
}

/// <summary>The header of the stream's iterative <c>ram</c> section, kept so a rebuilt stream names it as QEMU did.</summary>
/// <param name="SectionId">The section's number in this stream (QEMU numbers its handlers).</param>
/// <param name="InstanceId">The instance id (0 for <c>ram</c>).</param>
/// <param name="Version">The section's version (4 in QEMU 7.2).</param>
public readonly record struct RamSectionHeader(uint SectionId, uint InstanceId, uint Version);
