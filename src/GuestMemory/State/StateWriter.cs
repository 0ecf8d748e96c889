using System.Buffers.Binary;

namespace GuestMemory.State;

/// <summary>
/// Writes the saved-state format to a stream: the header, records packed into CRC-checked blocks, and
/// END. Runs of ZERO, BALLOONED and SKIP pages are merged into one record with a count, so pages that
/// carry no data cost a few bytes per run, not per page.
/// </summary>
/// <remarks>
/// <para>Page records are built in place in the block buffer: <see cref="EnsureRoom"/> (which may write a
/// block to the stream) is called outside the access section, then <see cref="BeginPage"/> returns the
/// span the caller copies the guest page into while inside its section, without any stream I/O there.</para>
/// <para><b>Blocks as frames.</b> A migration stream carries the same records in frames whose header has
/// the block header's shape (tag, sequence number, length, CRC-32C): <paramref name="blockMagic"/> is then
/// the frame's tag and <paramref name="nextSequence"/> numbers the frames of the whole connection, so
/// the writer's blocks are frames between the connection's other messages (docs/migration-protocol.md).</para>
/// <para>Not thread-safe: one saver owns it.</para>
/// </remarks>
/// <param name="stream">Where blocks go, each in one write.</param>
/// <param name="blockMagic">The first four bytes of every block (<see cref="SavedStateFormat.BlockMagic"/> in a saved state).</param>
/// <param name="nextSequence">The sequence number of the next block; null numbers the blocks 0, 1, 2, ...</param>
internal sealed class StateWriter(Stream stream, uint blockMagic = SavedStateFormat.BlockMagic, Func<uint>? nextSequence = null)
{
    private readonly byte[] _block = new byte[SavedStateFormat.BlockHeaderBytes + SavedStateFormat.MaxBlockPayload];
    private int _length;        // payload bytes in the current block
    private int _pendingRecord; // bytes of the record begun by BeginPage, or 0
    private RecordType _runType;
    private uint _runCount;
    private uint _chain;
    private uint _blocks;
    private long _payloadBytes;

    /// <summary>Bytes written to the stream so far.</summary>
    public long BytesWritten { get; private set; }

    public void WriteHeader(StateHeader header)
    {
        byte[] buffer = new byte[header.Length];
        _chain = Crc32C.Chain(0, header.WriteTo(buffer));
        Emit(buffer);
    }

    /// <summary>Adds <paramref name="count"/> pages to a run of ZERO, BALLOONED or SKIP, merging with the run before it when it is of the same kind.</summary>
    public void Run(RecordType type, uint count)
    {
        if (_runCount > 0 && (_runType != type || _runCount > uint.MaxValue - count)) FlushRun();
        _runType = type;
        _runCount += count;
    }

    /// <summary>Starts the next pass of a live save (its records then cover every page again).</summary>
    public void BeginPass(uint pass)
    {
        FlushRun();
        WriteSmall(RecordType.Pass, pass);
    }

    /// <summary>A SHARED_REF record: a page whose content an earlier SHARED record carried.</summary>
    public void SharedRef(uint index)
    {
        FlushRun();
        WriteSmall(RecordType.SharedRef, index);
    }

    /// <summary>A record of a type byte and fixed fields, without a page (a migration stream's content references).</summary>
    public void Fields(RecordType type, ReadOnlySpan<byte> fields)
    {
        FlushRun();
        WriteRecord(type, fields);
    }

    /// <summary>A RAW or ROM record copied from <paramref name="page"/> (a page the caller already holds a copy of).</summary>
    public void Page(RecordType type, ReadOnlySpan<byte> page)
    {
        EnsureRoom();
        page.CopyTo(BeginPage(type, 0));
        EndPage();
    }

    /// <summary>Writes the pending run and the block begun so far now (a migration pass ends), if there is any.</summary>
    public void Flush()
    {
        FlushRun();
        if (_length > 0) FlushBlock();
    }

    /// <summary>
    /// Makes sure the pending run and the largest record fit the current block, writing the block out if
    /// not (a pending run is held in memory and goes first into the next block).
    /// </summary>
    public void EnsureRoom()
    {
        if (Room < SavedStateFormat.RunRecordBytes + SavedStateFormat.MaxRecordBytes) FlushBlock();
    }

    /// <summary>
    /// Begins a record that carries a page (RAW, ROM or SHARED) with <paramref name="fieldBytes"/> bytes of
    /// fields before the page; returns the span for fields and page. No I/O: call <see cref="EnsureRoom"/> first.
    /// </summary>
    public Span<byte> BeginPage(RecordType type, int fieldBytes)
    {
        FlushRun(); // fits: EnsureRoom left room for the run and this record
        int at = SavedStateFormat.BlockHeaderBytes + _length;
        _block[at] = (byte)type;
        _pendingRecord = 1 + fieldBytes + Paging.PageSize;
        return _block.AsSpan(at + 1, fieldBytes + Paging.PageSize);
    }

    /// <summary>Keeps the record begun by <see cref="BeginPage"/>.</summary>
    public void EndPage()
    {
        _length += _pendingRecord;
        _pendingRecord = 0;
    }

    /// <summary>Drops the record begun by <see cref="BeginPage"/> (its page turned out all zero).</summary>
    public void CancelPage() => _pendingRecord = 0;

    /// <summary>Writes the last block and END, then flushes the stream.</summary>
    public void Finish(uint passes, long nonZeroPages, long sharedContents, long balloonedPages)
    {
        Flush();
        byte[] end = new byte[SavedStateFormat.EndBytes];
        new StateEnd(_blocks, passes, nonZeroPages, sharedContents, balloonedPages, _payloadBytes, _chain).WriteTo(end);
        Emit(end);
        stream.Flush();
    }

    private int Room => SavedStateFormat.MaxBlockPayload - _length;

    private void FlushRun()
    {
        if (_runCount == 0) return;
        WriteSmall(_runType, _runCount);
        _runCount = 0;
    }

    /// <summary>A record of a type byte and one 32-bit value (runs, SHARED_REF, PASS).</summary>
    private void WriteSmall(RecordType type, uint value)
    {
        Span<byte> field = stackalloc byte[sizeof(uint)];
        BinaryPrimitives.WriteUInt32LittleEndian(field, value);
        WriteRecord(type, field);
    }

    /// <summary>A record without a page, into this block if it fits, else into the next.</summary>
    private void WriteRecord(RecordType type, ReadOnlySpan<byte> fields)
    {
        if (Room < 1 + fields.Length) FlushBlock();
        int at = SavedStateFormat.BlockHeaderBytes + _length;
        _block[at] = (byte)type;
        fields.CopyTo(_block.AsSpan(at + 1));
        _length += 1 + fields.Length;
    }

    /// <summary>Writes the block as it is (a pending run stays pending) and starts an empty one.</summary>
    private void FlushBlock()
    {
        Span<byte> header = _block.AsSpan(0, SavedStateFormat.BlockHeaderBytes);
        BinaryPrimitives.WriteUInt32LittleEndian(header, blockMagic);
        BinaryPrimitives.WriteUInt32LittleEndian(header[4..], nextSequence?.Invoke() ?? _blocks);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], (uint)_length);
        uint crc = Crc32C.Compute(header[..12], _block.AsSpan(SavedStateFormat.BlockHeaderBytes, _length));
        BinaryPrimitives.WriteUInt32LittleEndian(header[12..], crc);
        _chain = Crc32C.Chain(_chain, crc);
        Emit(_block.AsSpan(0, SavedStateFormat.BlockHeaderBytes + _length));
        _blocks++;
        _payloadBytes += _length;
        _length = 0;
    }

    private void Emit(ReadOnlySpan<byte> bytes)
    {
        stream.Write(bytes);
        BytesWritten += bytes.Length;
    }
}
