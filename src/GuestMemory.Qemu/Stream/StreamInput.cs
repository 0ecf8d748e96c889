using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;

namespace GuestMemory.Qemu;

/// <summary>
/// The reader's window on the stream: large reads into one buffer (no allocation per page), big-endian
/// fields, and a look-ahead (<see cref="Peek"/>) for the device sections, whose end is found by the
/// footer that follows them. An end of the stream, or a dropped connection, where a field is due is
/// <see cref="QemuError.StreamTruncated"/>. Not thread-safe: one reader owns it.
/// </summary>
internal sealed class StreamInput
{
    /// <summary>The furthest <see cref="Peek"/> may look beyond the current position.</summary>
    public const int MaxLookahead = 512;

    private readonly System.IO.Stream _stream;
    private readonly byte[] _buffer = new byte[1 << 18];
    private int _start, _end;
    private long _consumedBefore;
    private bool _ended;

    public StreamInput(System.IO.Stream stream) => _stream = stream;

    /// <summary>Bytes taken from the stream so far (for messages that say where it broke).</summary>
    public long Position => _consumedBefore + _start;

    /// <summary>The next byte, or <see cref="QemuError.StreamTruncated"/> naming <paramref name="what"/>.</summary>
    public byte Byte(string what)
    {
        Need(1, what);
        return _buffer[_start++];
    }

    public ushort U16(string what) => BinaryPrimitives.ReadUInt16BigEndian(Take(2, what));

    public uint U32(string what) => BinaryPrimitives.ReadUInt32BigEndian(Take(4, what));

    public ulong U64(string what) => BinaryPrimitives.ReadUInt64BigEndian(Take(8, what));

    /// <summary>The next <paramref name="count"/> bytes (at most 64 KiB), valid until the next call.</summary>
    public ReadOnlySpan<byte> Take(int count, string what)
    {
        Need(count, what);
        var span = new ReadOnlySpan<byte>(_buffer, _start, count);
        _start += count;
        return span;
    }

    /// <summary>Copies the next <paramref name="count"/> bytes, of any length, into <paramref name="destination"/>.</summary>
    public void CopyTo(System.Buffers.IBufferWriter<byte> destination, long count, string what)
    {
        while (count > 0)
        {
            int n = (int)Math.Min(count, 1 << 16);
            destination.Write(Take(n, what));
            count -= n;
        }
    }

    /// <summary>The byte <paramref name="offset"/> bytes ahead (0..<see cref="MaxLookahead"/>), or -1 when the stream ends before it.</summary>
    public int Peek(int offset)
    {
        if (offset >= _end - _start && !Fill(offset + 1)) return -1;
        return _buffer[_start + offset];
    }

    /// <summary>True when the stream has no more bytes (waits for the peer to send or close).</summary>
    public bool AtEnd() => Peek(0) < 0;

    private void Need(int count, string what)
    {
        if (_end - _start >= count) return;
        if (!Fill(count))
            throw new QemuException(QemuError.StreamTruncated, $"the stream ended inside {what} at byte {Position + (_end - _start)}");
    }

    /// <summary>Reads until <paramref name="count"/> bytes are buffered; false when the stream ends first.</summary>
    private bool Fill(int count)
    {
        if (_start > 0 && _start + count > _buffer.Length)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _consumedBefore += _start;
            _end -= _start;
            _start = 0;
        }
        while (_end - _start < count)
        {
            if (_ended) return false;
            int n;
            try { n = _stream.Read(_buffer, _end, _buffer.Length - _end); }
            catch (IOException e) { throw Lost(e); }
            catch (SocketException e) { throw Lost(e); }
            if (n == 0) { _ended = true; return false; }
            _end += n;
        }
        return true;
    }

    private QemuException Lost(Exception e) =>
        new(QemuError.StreamTruncated, $"the connection broke at byte {Position + (_end - _start)}: {e.Message}", e);
}
