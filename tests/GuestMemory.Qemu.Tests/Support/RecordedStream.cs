using System.IO.Compression;

namespace GuestMemory.Qemu.Tests.Support;

/// <summary>
/// A real QEMU 7.2 migration stream recorded once on this project's machines (Data/bios16.qevm.gz):
/// a 16 MiB <c>pc</c> guest with a balloon device, running its BIOS (no disk), migrated with
/// <c>migrate "exec:cat > F"</c> while it ran, so it has the ram section's setup, several passes with
/// resent pages, the END section, 30-odd device sections, EOF and the description.
/// </summary>
public static class RecordedStream
{
    private static readonly Lazy<byte[]> Bytes = new(() =>
    {
        using var file = File.OpenRead(Path.Combine(AppContext.BaseDirectory, "Data", "bios16.qevm.gz"));
        using var gzip = new GZipStream(file, CompressionMode.Decompress);
        using var copy = new MemoryStream();
        gzip.CopyTo(copy);
        return copy.ToArray();
    });

    /// <summary>The stream's bytes (a fresh copy each time, so a test may change it).</summary>
    public static byte[] Get() => (byte[])Bytes.Value.Clone();
}

/// <summary>A sink that writes everything it is handed to a <see cref="QemuStreamWriter"/>: a reader into it rebuilds the stream.</summary>
public sealed class CopySink(QemuStreamWriter writer) : IQemuStreamSink
{
    public void Configuration(ReadOnlySpan<byte> raw, string machine) => writer.WriteHeader(raw);
    public void RamSetup(RamSectionHeader header, IReadOnlyList<RamBlock> blocks) => writer.WriteRamSetup(header, blocks);
    public void RamSectionBegin(bool final) => writer.BeginRamSection(final);
    public void Page(int block, long offset, ReadOnlySpan<byte> data) => writer.WritePage(block, offset, data);
    public void FilledPage(int block, long offset, byte fill) => writer.WriteFilledPage(block, offset, fill);
    public void RamSectionEnd() => writer.EndRamSection();
    public void DeviceSection(ReadOnlySpan<byte> raw, string id, uint instance) => writer.WriteDeviceSection(raw);
    public void End(ReadOnlySpan<byte> description) { writer.WriteEnd(description); writer.Flush(); }
}

/// <summary>A sink that records where each item of a stream began (by the reader's position) and what kind it was.</summary>
public sealed class LayoutSink(Func<long> position) : IQemuStreamSink
{
    public List<(string Kind, long At)> Items { get; } = [];
    public string Machine { get; private set; } = "";
    public List<RamBlock> Blocks { get; } = [];
    public int Pages { get; private set; }
    public int FilledPages { get; private set; }
    public List<string> Devices { get; } = [];
    public int DescriptionBytes { get; private set; }

    public void Configuration(ReadOnlySpan<byte> raw, string machine) { Machine = machine; Items.Add(("configuration", position())); }
    public void RamSetup(RamSectionHeader header, IReadOnlyList<RamBlock> blocks) { Blocks.AddRange(blocks); Items.Add(("ram-start", position())); }
    public void RamSectionBegin(bool final) => Items.Add((final ? "ram-end" : "ram-part", position()));
    public void Page(int block, long offset, ReadOnlySpan<byte> data) => Pages++;
    public void FilledPage(int block, long offset, byte fill) => FilledPages++;
    public void RamSectionEnd() => Items.Add(("ram-footer", position()));
    public void DeviceSection(ReadOnlySpan<byte> raw, string id, uint instance) { Devices.Add(id); Items.Add(("device", position())); }
    public void End(ReadOnlySpan<byte> description) { DescriptionBytes = description.Length; Items.Add(("end", position())); }
}
