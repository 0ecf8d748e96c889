using System.Buffers;
using System.Text;
using static GuestMemory.Qemu.QemuStreamFormat;

namespace GuestMemory.Qemu;

/// <summary>
/// Reads a QEMU 7.2 precopy migration stream (see <see cref="QemuStreamFormat"/>) and hands what it
/// holds to an <see cref="IQemuStreamSink"/>: the configuration, the RAM blocks, every page record, the
/// devices' sections and the end. It takes exactly the subset a plain <c>migrate</c> writes and refuses
/// the rest by name (<see cref="QemuError.StreamUnsupported"/>: xbzrle, compression, multifd, RDMA,
/// postcopy, a return path, block migration, another stream or section version); a stream that breaks
/// its rules is <see cref="QemuError.StreamCorrupt"/>, one that ends early
/// <see cref="QemuError.StreamTruncated"/>. Not thread-safe; one read per instance.
/// </summary>
/// <remarks>
/// Device state is opaque: a <c>SECTION_FULL</c>'s content has no length in the stream (only the QEMU
/// that owns the device knows its fields), so its end is the first footer (0x7e and its own section id)
/// that is followed by a well-formed next section header (a new device section with an unseen id and a
/// printable name, a RAM section, or <c>EOF</c> followed by the description or the end). Device bytes
/// that happen to look like a footer and a whole valid header would be cut there; the next checks (the
/// next section's footer, EOF, the description) then fail the stream as corrupt, never silently.
/// </remarks>
public sealed class QemuStreamReader
{
    private readonly StreamInput _in;
    private readonly HashSet<uint> _sectionIds = [];
    private readonly Dictionary<string, int> _blockIndex = new(StringComparer.Ordinal);
    private List<RamBlock> _blocks = [];
    private RamSectionHeader? _ram;
    private bool _ramEnded;
    private int _lastBlock = -1;
    private int _deviceSections;

    /// <summary>A reader of <paramref name="stream"/> (a socket, a file: read forwards only).</summary>
    public QemuStreamReader(System.IO.Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        _in = new StreamInput(stream);
    }

    /// <summary>Bytes read so far.</summary>
    public long Position => _in.Position;

    /// <summary>Reads the whole stream into <paramref name="sink"/>; returns when the stream has ended after its description.</summary>
    /// <exception cref="QemuException"><see cref="QemuError.StreamUnsupported"/>, <see cref="QemuError.StreamCorrupt"/>,
    /// <see cref="QemuError.StreamTruncated"/>, or what the sink throws.</exception>
    public void Read(IQemuStreamSink sink)
    {
        ArgumentNullException.ThrowIfNull(sink);
        uint magic = _in.U32("the magic");
        if (magic == MultifdMagic) throw new QemuException(QemuError.StreamUnsupported, "a multifd channel (capability multifd)");
        if (magic != Magic) throw Corrupt($"the stream starts with 0x{magic:x8}, not QEVM (0x{Magic:x8})");
        uint version = _in.U32("the version");
        if (version != StreamVersion) throw new QemuException(QemuError.StreamUnsupported, $"stream version {version} (only version {StreamVersion}, QEMU 2.0 and later, is taken)");
        if (_in.Peek(0) == Configuration)
        {
            _in.Byte("the configuration");
            ReadConfiguration(sink);
        }
        while (true)
        {
            long at = _in.Position;
            byte type = _in.Byte("a section type");
            switch (type)
            {
                case SectionStart: ReadStart(sink); break;
                case SectionPart or SectionEnd: ReadRamSection(sink, type == SectionEnd); break;
                case SectionFull: ReadDeviceSection(sink, at); break;
                case Command: throw new QemuException(QemuError.StreamUnsupported, CommandName(_in.U16("a command")));
                case Eof: ReadEnd(sink); return;
                default: throw Corrupt($"section type 0x{type:x2} at byte {at}");
            }
        }
    }

    private void ReadConfiguration(IQemuStreamSink sink)
    {
        var raw = new System.Buffers.ArrayBufferWriter<byte>();
        uint length = _in.U32("the machine type's length");
        if (length is 0 or > 256) throw Corrupt($"a machine type of {length} bytes");
        raw.Write(BigEndian(length));
        ReadOnlySpan<byte> name = _in.Take((int)length, "the machine type");
        string machine = Printable(name, "the machine type");
        raw.Write(name);
        while (_in.Peek(0) == Subsection)
        {
            raw.Write([_in.Byte("a subsection")]);
            int nameLength = _in.Byte("a subsection's name length");
            ReadOnlySpan<byte> subName = _in.Take(nameLength, "a subsection's name");
            string sub = Printable(subName, "a subsection's name");
            raw.Write([(byte)nameLength]);
            raw.Write(subName);
            raw.Write(BigEndian(_in.U32("a subsection's version")));
            switch (sub)
            {
                case "configuration/target-page-bits":
                    uint bits = _in.U32("the target page bits");
                    if (bits != 12) throw new QemuException(QemuError.StreamUnsupported, $"target pages of 2^{bits} bytes (only 4 KiB)");
                    raw.Write(BigEndian(bits));
                    break;
                case "configuration/uuid":
                    raw.Write(_in.Take(16, "the VM's UUID"));
                    break;
                case "configuration/capabilities":
                    throw new QemuException(QemuError.StreamUnsupported, $"capabilities the target must match ({string.Join(", ", ReadCapabilities())})");
                default:
                    throw new QemuException(QemuError.StreamUnsupported, $"configuration subsection '{sub}'");
            }
        }
        sink.Configuration(raw.WrittenSpan, machine);
    }

    private List<string> ReadCapabilities()
    {
        uint count = _in.U32("the capability count");
        if (count > 64) throw Corrupt($"{count} capabilities");
        var names = new List<string>();
        for (int i = 0; i < count; i++)
        {
            int n = _in.Byte("a capability's length");
            names.Add(Printable(_in.Take(n, "a capability"), "a capability"));
        }
        return names;
    }

    private void ReadStart(IQemuStreamSink sink)
    {
        uint id = _in.U32("a section id");
        string name = ReadName("a section name");
        uint instance = _in.U32("an instance id"), version = _in.U32("a section version");
        if (name != RamSectionName)
            throw new QemuException(QemuError.StreamUnsupported, $"iterative section '{name}' (block migration and dirty bitmaps are not taken; only RAM)");
        if (_ram != null) throw Corrupt("a second ram section");
        if (version != RamSectionVersion) throw new QemuException(QemuError.StreamUnsupported, $"ram section version {version} (only {RamSectionVersion}, QEMU 7.2's)");
        if (!_sectionIds.Add(id)) throw Corrupt($"section id {id} used twice");
        _ram = new RamSectionHeader(id, instance, version);
        ReadBlockList();
        sink.RamSetup(_ram.Value, _blocks);
        ReadRecords(sink, setup: true);
    }

    private void ReadBlockList()
    {
        ulong word = _in.U64("the RAM size record");
        ulong flags = word & FlagMask;
        if (UnsupportedFlag(flags) is string what) throw new QemuException(QemuError.StreamUnsupported, what);
        if (flags != FlagMemSize) throw Corrupt($"the ram section starts with flags 0x{flags:x}, not the RAM size");
        ulong total = word & ~FlagMask;
        if (total == 0 || total > MaxRamBytes) throw Corrupt($"a RAM size of {total} bytes");
        var blocks = new List<RamBlock>();
        ulong sum = 0;
        while (sum < total)
        {
            if (blocks.Count == MaxRamBlocks) throw Corrupt($"more than {MaxRamBlocks} RAM blocks");
            string id = ReadName("a RAM block's id");
            ulong length = _in.U64("a RAM block's length");
            if (length == 0 || length % PageSize != 0 || length > total - sum)
                throw Corrupt($"RAM block '{id}' of {length} bytes (the blocks must be whole pages adding up to {total})");
            if (!_blockIndex.TryAdd(id, blocks.Count)) throw Corrupt($"RAM block '{id}' listed twice");
            blocks.Add(new RamBlock(id, (long)length));
            sum += length;
        }
        _blocks = blocks;
    }

    private void ReadRamSection(IQemuStreamSink sink, bool final)
    {
        uint id = _in.U32("a section id");
        if (_ram is not { } ram || id != ram.SectionId) throw Corrupt($"a RAM part of section {id}, which no SECTION_START began as ram");
        if (_ramEnded) throw Corrupt("a RAM section after the ram section's end");
        _ramEnded = final;
        sink.RamSectionBegin(final);
        ReadRecords(sink, setup: false);
    }

    /// <summary>The page records of one ram section up to its EOS, then its footer.</summary>
    private void ReadRecords(IQemuStreamSink sink, bool setup)
    {
        while (true)
        {
            ulong word = _in.U64("a RAM record");
            ulong flags = word & FlagMask;
            if (UnsupportedFlag(flags) is string what) throw new QemuException(QemuError.StreamUnsupported, what);
            if (flags == FlagEos) break;
            if (setup) throw Corrupt($"a page record (flags 0x{flags:x}) in the ram section's setup");
            ulong kind = flags & ~FlagContinue;
            if (kind is not (FlagZero or FlagPage)) throw Corrupt($"a RAM record with flags 0x{flags:x}");
            int block = ReadBlock((flags & FlagContinue) != 0);
            ulong offset = word & ~FlagMask;
            if (offset >= (ulong)_blocks[block].Length) throw Corrupt($"page 0x{offset:x} beyond RAM block '{_blocks[block].Id}' ({_blocks[block].Length} bytes)");
            if (kind == FlagZero) sink.FilledPage(block, (long)offset, _in.Byte("a zero page's fill byte"));
            else sink.Page(block, (long)offset, _in.Take(PageSize, "a page"));
        }
        ReadFooter(_ram!.Value.SectionId);
        if (!setup) sink.RamSectionEnd();
    }

    private int ReadBlock(bool continued)
    {
        if (continued)
        {
            if (_lastBlock < 0) throw Corrupt("a RAM record continues a block before any block was named");
            return _lastBlock;
        }
        string id = ReadName("a RAM block's id");
        if (!_blockIndex.TryGetValue(id, out int block)) throw Corrupt($"a page of RAM block '{id}', which the ram section did not list");
        return _lastBlock = block;
    }

    private void ReadDeviceSection(IQemuStreamSink sink, long at)
    {
        if (++_deviceSections > MaxDeviceSections) throw Corrupt($"more than {MaxDeviceSections} device sections");
        var raw = new System.Buffers.ArrayBufferWriter<byte>(4096);
        raw.Write([SectionFull]);
        uint id = _in.U32("a section id");
        string name = ReadName("a device section's name");
        uint instance = _in.U32("an instance id"), version = _in.U32("a section version");
        if (!_sectionIds.Add(id)) throw Corrupt($"section id {id} used twice (device '{name}')");
        raw.Write(BigEndian(id));
        raw.Write([(byte)name.Length]);
        raw.Write(Encoding.ASCII.GetBytes(name));
        raw.Write(BigEndian(instance));
        raw.Write(BigEndian(version));
        while (true)
        {
            if (raw.WrittenCount > MaxDeviceSectionBytes) throw Corrupt($"device section '{name}' at byte {at} has no footer within {MaxDeviceSectionBytes} bytes");
            byte b = _in.Byte($"device section '{name}'");
            raw.Write([b]);
            if (b == Footer && FooterFollows(id))
            {
                raw.Write(_in.Take(4, "a footer"));
                break;
            }
        }
        sink.DeviceSection(raw.WrittenSpan, name, instance);
    }

    /// <summary>True when the next 4 bytes are <paramref name="id"/> and a well-formed section header or the end follows them.</summary>
    private bool FooterFollows(uint id)
    {
        for (int i = 0; i < 4; i++)
            if (_in.Peek(i) != (byte)(id >> (24 - 8 * i))) return false;
        int type = _in.Peek(4);
        switch (type)
        {
            case Eof:
                int next = _in.Peek(5);
                return next is -1 or VmDescription;
            case SectionPart or SectionEnd:
                return _ram is { } ram && !_ramEnded && PeekU32(5) == ram.SectionId;
            case SectionFull:
                uint nextId = PeekU32(5);
                if (nextId == id || _sectionIds.Contains(nextId)) return false;
                int length = _in.Peek(9);
                if (length < 1) return false;
                for (int i = 0; i < length; i++)
                    if (_in.Peek(10 + i) is < 0x20 or > 0x7e) return false;
                return PeekU32(10 + length) < 1u << 16 && PeekU32(14 + length) < 1u << 16;
            default:
                return false;
        }
    }

    private uint PeekU32(int offset)
    {
        uint value = 0;
        for (int i = 0; i < 4; i++)
        {
            int b = _in.Peek(offset + i);
            if (b < 0) return uint.MaxValue;
            value = value << 8 | (uint)b;
        }
        return value;
    }

    private void ReadEnd(IQemuStreamSink sink)
    {
        if (_ram == null || !_ramEnded) throw Corrupt("EOF before the ram section's end");
        if (_in.AtEnd())
        {
            sink.End([]);
            return;
        }
        byte type = _in.Byte("the description");
        if (type != VmDescription) throw Corrupt($"section type 0x{type:x2} after EOF");
        uint length = _in.U32("the description's length");
        if (length > MaxDescriptionBytes) throw Corrupt($"a description of {length} bytes");
        var description = new System.Buffers.ArrayBufferWriter<byte>((int)Math.Max(length, 1));
        _in.CopyTo(description, length, "the description");
        if (!_in.AtEnd()) throw Corrupt($"bytes after the description at byte {_in.Position}");
        sink.End(description.WrittenSpan);
    }

    private void ReadFooter(uint id)
    {
        byte b = _in.Byte("a section footer");
        if (b != Footer) throw Corrupt($"section {id} ends with 0x{b:x2} at byte {_in.Position - 1}, not its footer (streams of machine types without footers are not taken)");
        uint footerId = _in.U32("a section footer");
        if (footerId != id) throw Corrupt($"section {id}'s footer names section {footerId}");
    }

    private string ReadName(string what)
    {
        int length = _in.Byte(what);
        if (length == 0) throw Corrupt($"an empty {what}");
        return Printable(_in.Take(length, what), what);
    }

    private string Printable(ReadOnlySpan<byte> bytes, string what)
    {
        foreach (byte b in bytes)
            if (b is < 0x20 or > 0x7e) throw Corrupt($"{what} has byte 0x{b:x2} at byte {_in.Position}");
        return Encoding.ASCII.GetString(bytes);
    }

    private static byte[] BigEndian(uint value) => [(byte)(value >> 24), (byte)(value >> 16), (byte)(value >> 8), (byte)value];

    private QemuException Corrupt(string what) => new(QemuError.StreamCorrupt, what);
}
