namespace GuestMemory.Qemu;

/// <summary>
/// What a <see cref="QemuStreamReader"/> hands on, in stream order. The reader has checked each item
/// before it is handed on (a page's block and address are in range, a section's footer matches), so a
/// sink only decides what to keep; anything the sink throws ends the read.
/// </summary>
public interface IQemuStreamSink
{
    /// <summary>The configuration section's bytes after its type byte (the machine type and any subsections), and the machine type.</summary>
    void Configuration(ReadOnlySpan<byte> raw, string machine);

    /// <summary>The <c>ram</c> section began: its header and the RAM blocks in the order QEMU listed them.</summary>
    void RamSetup(RamSectionHeader header, IReadOnlyList<RamBlock> blocks);

    /// <summary>A <c>ram</c> section of pages begins (<paramref name="final"/>: its END section, the guest stopped).</summary>
    void RamSectionBegin(bool final);

    /// <summary>A page of block <paramref name="block"/> at byte <paramref name="offset"/>: its 4096 bytes (valid during the call only). A later copy of the same page replaces it.</summary>
    void Page(int block, long offset, ReadOnlySpan<byte> data);

    /// <summary>A page whose every byte is <paramref name="fill"/> (QEMU sends 0).</summary>
    void FilledPage(int block, long offset, byte fill);

    /// <summary>The current <c>ram</c> section ended (its EOS record and footer).</summary>
    void RamSectionEnd();

    /// <summary>A device's whole <c>SECTION_FULL</c>, from its type byte to its footer: opaque, kept and resent as it came.</summary>
    void DeviceSection(ReadOnlySpan<byte> raw, string id, uint instance);

    /// <summary>The stream's end: <c>EOF</c> and the devices' JSON description (empty when the machine suppresses it).</summary>
    void End(ReadOnlySpan<byte> description);
}
