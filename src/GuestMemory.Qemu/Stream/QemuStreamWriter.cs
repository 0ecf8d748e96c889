using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;
using static GuestMemory.Qemu.QemuStreamFormat;

namespace GuestMemory.Qemu;

/// <summary>
/// Writes a QEMU 7.2 precopy migration stream that a QEMU started with <c>-incoming</c> loads: the
/// header and configuration, the <c>ram</c> section (its block list, sections of page records, its end),
/// the devices' sections as they were received, <c>EOF</c> and the description. A page record names
/// its block unless it is the block of the record before (<c>CONTINUE</c>), as QEMU's own source does,
/// so a stream read by <see cref="QemuStreamReader"/> and written back item by item is the same bytes.
/// Not thread-safe. Writes go through one buffer of 1 MiB; <see cref="Flush"/> at the end.
/// </summary>
public sealed class QemuStreamWriter
{
    private readonly BufferedStream _out;
    private readonly byte[] _scratch = new byte[8];
    private IReadOnlyList<RamBlock> _blocks = [];
    private RamSectionHeader _ram;
    private int _lastBlock = -1;

    /// <summary>A writer onto <paramref name="stream"/> (a socket, a file).</summary>
    public QemuStreamWriter(System.IO.Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        _out = new BufferedStream(stream, 1 << 20);
    }

    /// <summary>Bytes written so far.</summary>
    public long BytesWritten { get; private set; }

    /// <summary>The magic, the version and (when <paramref name="configuration"/> is not empty) the configuration section as it was received.</summary>
    public void WriteHeader(ReadOnlySpan<byte> configuration)
    {
        U32(Magic);
        U32(StreamVersion);
        if (configuration.IsEmpty) return;
        Byte(Configuration);
        Bytes(configuration);
    }

    /// <summary>Asks the target to open its return path: it then answers on the same connection whether it loaded the stream (see <see cref="ReturnPath"/>).</summary>
    public void WriteOpenReturnPath()
    {
        Byte(Command);
        U16(CommandOpenReturnPath);
        U16(0);
    }

    /// <summary>The <c>ram</c> section's start: the RAM size, the blocks, EOS and the footer.</summary>
    public void WriteRamSetup(RamSectionHeader header, IReadOnlyList<RamBlock> blocks)
    {
        ArgumentNullException.ThrowIfNull(blocks);
        _ram = header;
        _blocks = blocks;
        Byte(SectionStart);
        U32(header.SectionId);
        Name(RamSectionName);
        U32(header.InstanceId);
        U32(header.Version);
        U64((ulong)blocks.Sum(b => b.Length) | FlagMemSize);
        foreach (RamBlock block in blocks)
        {
            Name(block.Id);
            U64((ulong)block.Length);
        }
        U64(FlagEos);
        WriteFooter(header.SectionId);
    }

    /// <summary>Begins a section of page records (<paramref name="final"/>: the END section).</summary>
    public void BeginRamSection(bool final)
    {
        Byte(final ? SectionEnd : SectionPart);
        U32(_ram.SectionId);
    }

    /// <summary>A page record with its 4096 bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // called per page from the first resume of a process on
    public void WritePage(int block, long offset, ReadOnlySpan<byte> data)
    {
        if (data.Length != PageSize) throw new QemuException(QemuError.InvalidArgument, $"a page is {PageSize} bytes, not {data.Length}");
        RecordHeader(block, offset, FlagPage);
        Bytes(data);
    }

    /// <summary>A page whose every byte is <paramref name="fill"/> (a zero page: 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // called per page from the first resume of a process on
    public void WriteFilledPage(int block, long offset, byte fill)
    {
        RecordHeader(block, offset, FlagZero);
        Byte(fill);
    }

    /// <summary>Ends the section of page records: EOS and the footer.</summary>
    public void EndRamSection()
    {
        U64(FlagEos);
        WriteFooter(_ram.SectionId);
    }

    /// <summary>A device's section as it was received (<see cref="IQemuStreamSink.DeviceSection"/>).</summary>
    public void WriteDeviceSection(ReadOnlySpan<byte> raw) => Bytes(raw);

    /// <summary><c>EOF</c> and, when not empty, the description.</summary>
    public void WriteEnd(ReadOnlySpan<byte> description)
    {
        Byte(Eof);
        if (description.IsEmpty) return;
        Byte(VmDescription);
        U32((uint)description.Length);
        Bytes(description);
    }

    /// <summary>Writes what is buffered to the stream.</summary>
    public void Flush() => _out.Flush();

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // called per page from the first resume of a process on
    private void RecordHeader(int block, long offset, ulong kind)
    {
        if ((uint)block >= (uint)_blocks.Count) throw new QemuException(QemuError.InvalidArgument, $"block {block} of {_blocks.Count}");
        if (offset < 0 || offset >= _blocks[block].Length || offset % PageSize != 0)
            throw new QemuException(QemuError.InvalidArgument, $"offset {offset} is not a page of block '{_blocks[block].Id}'");
        bool continued = block == _lastBlock;
        U64((ulong)offset | kind | (continued ? FlagContinue : 0));
        if (continued) return;
        Name(_blocks[block].Id);
        _lastBlock = block;
    }

    private void WriteFooter(uint id)
    {
        Byte(Footer);
        U32(id);
    }

    private void Name(string name)
    {
        Byte((byte)name.Length);
        Bytes(Encoding.ASCII.GetBytes(name));
    }

    private void Byte(byte value)
    {
        _out.WriteByte(value);
        BytesWritten++;
    }

    private void U16(ushort value)
    {
        BinaryPrimitives.WriteUInt16BigEndian(_scratch, value);
        Bytes(_scratch.AsSpan(0, 2));
    }

    private void U32(uint value)
    {
        BinaryPrimitives.WriteUInt32BigEndian(_scratch, value);
        Bytes(_scratch.AsSpan(0, 4));
    }

    private void U64(ulong value)
    {
        BinaryPrimitives.WriteUInt64BigEndian(_scratch, value);
        Bytes(_scratch.AsSpan(0, 8));
    }

    private void Bytes(ReadOnlySpan<byte> bytes)
    {
        _out.Write(bytes);
        BytesWritten += bytes.Length;
    }
}
