using System.Buffers.Binary;
using System.Text;

namespace GuestMemory.Migration;

/// <summary>Builds the payload of a control frame: little-endian integers and length-prefixed UTF-8 text.</summary>
internal sealed class WireWriter
{
    private byte[] _buffer = new byte[256];

    public int Length { get; private set; }

    public ReadOnlySpan<byte> Written => _buffer.AsSpan(0, Length);

    public WireWriter Clear()
    {
        Length = 0;
        return this;
    }

    public WireWriter U8(byte value)
    {
        Take(1)[0] = value;
        return this;
    }

    public WireWriter U32(uint value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(Take(sizeof(uint)), value);
        return this;
    }

    public WireWriter I64(long value)
    {
        BinaryPrimitives.WriteInt64LittleEndian(Take(sizeof(long)), value);
        return this;
    }

    public WireWriter Bytes(ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(Take(bytes.Length));
        return this;
    }

    /// <summary>u16 byte count, then the UTF-8 bytes (cut to <see cref="MigrationProtocol.MaxText"/> bytes).</summary>
    public WireWriter Text(string text)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        int n = Math.Min(bytes.Length, MigrationProtocol.MaxText);
        BinaryPrimitives.WriteUInt16LittleEndian(Take(sizeof(ushort)), (ushort)n);
        return Bytes(bytes.AsSpan(0, n));
    }

    /// <summary>Room for <paramref name="count"/> more bytes, to be filled by the caller.</summary>
    public Span<byte> Take(int count)
    {
        if (Length + count > _buffer.Length) Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, Length + count));
        Span<byte> span = _buffer.AsSpan(Length, count);
        Length += count;
        return span;
    }
}

/// <summary>
/// Reads the payload of a control frame; any field that runs past the payload, text that is too long or
/// not UTF-8, or bytes left over at <see cref="End"/> make the message corrupt.
/// </summary>
internal ref struct WireReader(ReadOnlySpan<byte> payload, string message)
{
    private readonly ReadOnlySpan<byte> _payload = payload;
    private int _at;

    public byte U8() => Take(1)[0];

    public uint U32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(sizeof(uint)));

    public long I64() => BinaryPrimitives.ReadInt64LittleEndian(Take(sizeof(long)));

    public ReadOnlySpan<byte> Bytes(int count) => Take(count);

    public string Text()
    {
        int n = BinaryPrimitives.ReadUInt16LittleEndian(Take(sizeof(ushort)));
        if (n > MigrationProtocol.MaxText) throw MigrationErrors.Corrupt($"a text of {n} bytes in {message}");
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(Take(n));
        }
        catch (DecoderFallbackException)
        {
            throw MigrationErrors.Corrupt($"a text in {message} is not UTF-8");
        }
    }

    /// <summary>Checks that the whole payload was read.</summary>
    public readonly void End()
    {
        if (_at != _payload.Length) throw MigrationErrors.Corrupt($"{_payload.Length - _at} bytes left over in {message}");
    }

    private ReadOnlySpan<byte> Take(int count)
    {
        if (count < 0 || count > _payload.Length - _at) throw MigrationErrors.Corrupt($"{message} is too short");
        ReadOnlySpan<byte> span = _payload.Slice(_at, count);
        _at += count;
        return span;
    }
}
