using System.Buffers.Binary;

namespace GuestMemory.State;

/// <summary>
/// The END record that closes a saved state: what the writer sent (blocks, passes, payload bytes), the
/// exact figures of the final image, and the file check, a CRC-32C chained over the header's and every
/// block's CRC in order. A restore commits nothing before it has read END and found all of it matching.
/// </summary>
internal readonly record struct StateEnd(uint Blocks, uint Passes, long NonZeroPages, long SharedContents, long BalloonedPages, long PayloadBytes, uint FileCheck)
{
    public void WriteTo(Span<byte> buffer)
    {
        Span<byte> end = buffer[..SavedStateFormat.EndBytes];
        end.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(end, SavedStateFormat.EndMagic);
        BinaryPrimitives.WriteUInt32LittleEndian(end[4..], Blocks);
        BinaryPrimitives.WriteUInt32LittleEndian(end[8..], Passes);
        BinaryPrimitives.WriteInt64LittleEndian(end[16..], NonZeroPages);
        BinaryPrimitives.WriteInt64LittleEndian(end[24..], SharedContents);
        BinaryPrimitives.WriteInt64LittleEndian(end[32..], BalloonedPages);
        BinaryPrimitives.WriteInt64LittleEndian(end[40..], PayloadBytes);
        BinaryPrimitives.WriteUInt32LittleEndian(end[48..], FileCheck);
        BinaryPrimitives.WriteUInt32LittleEndian(end[52..], Crc32C.Compute(end[..52]));
    }

    /// <summary>Reads END whose magic (the first 4 bytes, in <paramref name="start"/>) was already read.</summary>
    public static StateEnd Read(StreamSource source, ReadOnlySpan<byte> start)
    {
        Span<byte> end = stackalloc byte[SavedStateFormat.EndBytes];
        start.CopyTo(end);
        source.ReadExactly(end[start.Length..], "the END record");
        if (Crc32C.Compute(end[..52]) != BinaryPrimitives.ReadUInt32LittleEndian(end[52..])) throw StateErrors.Corrupt("the END record's CRC does not match");
        if (BinaryPrimitives.ReadUInt32LittleEndian(end[12..]) != 0) throw StateErrors.Corrupt("unknown END flags");
        return new StateEnd(
            BinaryPrimitives.ReadUInt32LittleEndian(end[4..]),
            BinaryPrimitives.ReadUInt32LittleEndian(end[8..]),
            BinaryPrimitives.ReadInt64LittleEndian(end[16..]),
            BinaryPrimitives.ReadInt64LittleEndian(end[24..]),
            BinaryPrimitives.ReadInt64LittleEndian(end[32..]),
            BinaryPrimitives.ReadInt64LittleEndian(end[40..]),
            BinaryPrimitives.ReadUInt32LittleEndian(end[48..]));
    }
}
