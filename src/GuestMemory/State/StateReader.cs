using System.Buffers.Binary;

namespace GuestMemory.State;

/// <summary>One record as read: its type, its 32-bit value (a count, an index or a pass), and for page records the page.</summary>
internal readonly ref struct StateRecord(RecordType type, uint value, ulong hash, ReadOnlySpan<byte> page, ReadOnlySpan<byte> fields = default)
{
    public RecordType Type { get; } = type;
    /// <summary>The run count, the content index (SHARED, SHARED_REF) or the pass number.</summary>
    public uint Value { get; } = value;
    /// <summary>SHARED only: the content's page hash.</summary>
    public ulong Hash { get; } = hash;
    /// <summary>RAW, ROM, SHARED: the page's 4096 bytes (valid until the next record is read).</summary>
    public ReadOnlySpan<byte> Page { get; } = page;
    /// <summary>A migration stream's CONTENT_REF and DUPLICATE: the bytes after the type byte, for the migration layer to decode.</summary>
    public ReadOnlySpan<byte> Fields { get; } = fields;
}

/// <summary>
/// Parses the records of one block payload (or of a migration stream's page frame, which carries the
/// same records plus the migration-only ones), checking that each is a known type and lies wholly inside.
/// </summary>
internal static class RecordParser
{
    /// <summary>Bytes of a migration CONTENT_REF record after its type: the 128-bit content key.</summary>
    public const int ContentRefFieldBytes = 16;

    /// <summary>Bytes of a migration DUPLICATE record after its type: the content key and the page position (u64).</summary>
    public const int DuplicateFieldBytes = 24;

    /// <summary>
    /// Parses the record at the start of <paramref name="rest"/> and returns its size. <paramref name="migration"/>
    /// admits the migration-only types; a saved state holding one is corrupt. <paramref name="unit"/> and
    /// <paramref name="number"/> name the block (or frame) in error messages.
    /// </summary>
    public static int Parse(ReadOnlySpan<byte> rest, bool migration, string unit, uint number, out StateRecord record)
    {
        var type = (RecordType)rest[0];
        int size = type switch
        {
            RecordType.Zero or RecordType.Ballooned or RecordType.Skip or RecordType.SharedRef or RecordType.Pass => SavedStateFormat.RunRecordBytes,
            RecordType.Raw or RecordType.Rom => 1 + Paging.PageSize,
            RecordType.Shared => SavedStateFormat.MaxRecordBytes,
            RecordType.ContentRef when migration => 1 + ContentRefFieldBytes,
            RecordType.Duplicate when migration => 1 + DuplicateFieldBytes,
            _ => throw StateErrors.Corrupt($"unknown record type {rest[0]} in {unit} {number}"),
        };
        if (size > rest.Length) throw StateErrors.Corrupt($"a {type} record runs past the end of {unit} {number}");
        record = type switch
        {
            RecordType.Raw or RecordType.Rom => new StateRecord(type, 0, 0, rest.Slice(1, Paging.PageSize)),
            RecordType.Shared => new StateRecord(type, BinaryPrimitives.ReadUInt32LittleEndian(rest[9..]), BinaryPrimitives.ReadUInt64LittleEndian(rest[1..]),
                rest.Slice(1 + SavedStateFormat.SharedFieldBytes, Paging.PageSize)),
            RecordType.ContentRef or RecordType.Duplicate => new StateRecord(type, 0, 0, default, rest[1..size]),
            _ => new StateRecord(type, BinaryPrimitives.ReadUInt32LittleEndian(rest[1..]), 0, default),
        };
        return size;
    }
}

/// <summary>
/// Reads the saved-state format from any stream: the header, then record after record. A block is read
/// whole and its CRC checked before any of its records is handed out; END is checked against what was
/// read (block count, payload bytes, the chained file check). Holds one block buffer of 1 MiB, whatever
/// the state's size, and never allocates by a length it has not bounded first.
/// </summary>
internal sealed class StateReader(Stream stream)
{
    private readonly StreamSource _source = new(stream);
    private readonly byte[] _payload = new byte[SavedStateFormat.MaxBlockPayload];
    private int _length;
    private int _position;
    private uint _blocks;
    private uint _chain;
    private long _payloadBytes;

    /// <summary>END, once <see cref="Next"/> has returned false.</summary>
    public StateEnd End { get; private set; }

    /// <summary>Bytes read from the stream so far.</summary>
    public long BytesRead => _source.Position;

    public StateHeader ReadHeader()
    {
        StateHeader header = StateHeader.Read(_source, out uint crc);
        _chain = Crc32C.Chain(0, crc);
        return header;
    }

    /// <summary>Reads the next record; returns false once END has been read and checked.</summary>
    public bool Next(out StateRecord record)
    {
        record = default;
        if (_position == _length && !ReadBlock()) return false;
        _position += RecordParser.Parse(_payload.AsSpan(_position, _length - _position), migration: false, "block", _blocks - 1, out record);
        return true;
    }

    /// <summary>Reads and checks the next block; returns false (with <see cref="End"/> set and checked) at END.</summary>
    private bool ReadBlock()
    {
        Span<byte> header = stackalloc byte[SavedStateFormat.BlockHeaderBytes];
        _source.ReadExactly(header[..4], $"block {_blocks}");
        uint magic = BinaryPrimitives.ReadUInt32LittleEndian(header);
        if (magic == SavedStateFormat.EndMagic)
        {
            End = StateEnd.Read(_source, header[..4]);
            if (End.Blocks != _blocks || End.PayloadBytes != _payloadBytes || End.FileCheck != _chain)
                throw StateErrors.Corrupt($"END does not match the file: {End.Blocks} blocks and {End.PayloadBytes} payload bytes declared, {_blocks} and {_payloadBytes} read, or the file check differs");
            return false;
        }
        if (magic != SavedStateFormat.BlockMagic) throw StateErrors.Corrupt($"block {_blocks} does not start with a block or END magic");
        _source.ReadExactly(header[4..], $"block {_blocks}");
        uint sequence = BinaryPrimitives.ReadUInt32LittleEndian(header[4..]);
        uint length = BinaryPrimitives.ReadUInt32LittleEndian(header[8..]);
        if (length > SavedStateFormat.MaxBlockPayload) throw StateErrors.TooLarge($"block {_blocks} declares {length} payload bytes (at most {SavedStateFormat.MaxBlockPayload})");
        if (length == 0 || sequence != _blocks) throw StateErrors.Corrupt($"block {_blocks} is empty or carries sequence number {sequence}");
        Span<byte> payload = _payload.AsSpan(0, (int)length);
        _source.ReadExactly(payload, $"block {_blocks}");
        uint crc = BinaryPrimitives.ReadUInt32LittleEndian(header[12..]);
        if (Crc32C.Compute(header[..12], payload) != crc) throw StateErrors.Corrupt($"the CRC of block {_blocks} does not match");
        _chain = Crc32C.Chain(_chain, crc);
        _blocks++;
        _payloadBytes += length;
        _length = (int)length;
        _position = 0;
        return true;
    }
}
