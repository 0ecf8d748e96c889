using System.Diagnostics;
using System.Buffers.Binary;
using GuestMemory.State;

namespace GuestMemory.Migration;

/// <summary>One frame as read: its tag, its sequence number and its payload (valid until the next frame is read).</summary>
internal readonly ref struct Frame(MessageType type, uint sequence, ReadOnlySpan<byte> payload)
{
    public MessageType Type { get; } = type;
    public uint Sequence { get; } = sequence;
    public ReadOnlySpan<byte> Payload { get; } = payload;
}

/// <summary>
/// Writes frames to one direction of a connection: tag, sequence number (0, 1, 2, ... over the whole
/// connection), payload length and the CRC-32C of those twelve bytes and the payload, then the payload,
/// in one write. Page frames are written by a <see cref="StateWriter"/> that draws its sequence numbers
/// from <see cref="NextSequence"/>, so they interleave with the other frames in one numbering.
/// </summary>
/// <remarks>Not thread-safe: one session thread writes.</remarks>
internal sealed class FrameWriter(Stream stream)
{
    private byte[] _buffer = new byte[MigrationProtocol.FrameHeaderBytes + 256];
    private uint _sequence;

    /// <summary>Takes the next sequence number (for a frame written elsewhere on the same stream).</summary>
    public uint NextSequence() => _sequence++;

    /// <summary>A page writer whose blocks are this connection's PAGE frames.</summary>
    public StateWriter PageWriter() => new(stream, (uint)MessageType.Pages, NextSequence);

    public void Write(MessageType type, ReadOnlySpan<byte> payload)
    {
        int length = MigrationProtocol.FrameHeaderBytes + payload.Length;
        if (_buffer.Length < length) _buffer = new byte[length];
        Span<byte> frame = _buffer.AsSpan(0, length);
        BinaryPrimitives.WriteUInt32LittleEndian(frame, (uint)type);
        BinaryPrimitives.WriteUInt32LittleEndian(frame[4..], NextSequence());
        BinaryPrimitives.WriteUInt32LittleEndian(frame[8..], (uint)payload.Length);
        payload.CopyTo(frame[MigrationProtocol.FrameHeaderBytes..]);
        BinaryPrimitives.WriteUInt32LittleEndian(frame[12..], Crc32C.Compute(frame[..12], payload));
        stream.Write(frame);
        stream.Flush();
    }

    public void Write(MessageType type) => Write(type, ReadOnlySpan<byte>.Empty);
}

/// <summary>
/// Reads the frames of one direction of a connection and checks each before handing it out: the length
/// within the limit of its kind (before the payload is read), the CRC-32C, the sequence number (the next
/// one expected, so a lost, repeated or reordered frame is caught) and a known tag. Holds one buffer of
/// the largest payload, whatever the session's size.
/// </summary>
internal sealed class FrameReader(MeteredStream stream)
{
    private readonly byte[] _header = new byte[MigrationProtocol.FrameHeaderBytes];
    private readonly byte[] _payload = new byte[MigrationProtocol.MaxPayload];
    private uint _expected;

    /// <summary>Reads and checks the next frame.</summary>
    /// <exception cref="GmmException"><see cref="GmmError.MigrationConnectionLost"/> when the stream ends or fails;
    /// <see cref="GmmError.MigrationStreamCorrupt"/> when the frame fails a check.</exception>
    public Frame Read()
    {
        // The wait for a frame to begin follows the connection's read timeout (a standby between checkpoints
        // waits as long as it takes); once it has begun, the whole frame must arrive within the frame
        // deadline, so a peer that trickles bytes cannot hold a session open for ever.
        ReadExactly(_header.AsSpan(0, 1), header: true);
        stream.BeginFrame();
        try
        {
            return ReadRest();
        }
        finally
        {
            stream.EndFrame();
        }
    }

    private Frame ReadRest()
    {
        ReadExactly(_header.AsSpan(1), header: false);
        var type = (MessageType)BinaryPrimitives.ReadUInt32LittleEndian(_header);
        uint sequence = BinaryPrimitives.ReadUInt32LittleEndian(_header.AsSpan(4));
        uint length = BinaryPrimitives.ReadUInt32LittleEndian(_header.AsSpan(8));
        uint limit = (uint)(type == MessageType.Pages ? MigrationProtocol.MaxPayload : MigrationProtocol.MaxControlPayload);
        if (length > limit) throw MigrationErrors.Corrupt($"frame {_expected} declares {length} payload bytes (at most {limit} for its tag)");
        Span<byte> payload = _payload.AsSpan(0, (int)length);
        ReadExactly(payload, header: false);
        if (Crc32C.Compute(_header.AsSpan(0, 12), payload) != BinaryPrimitives.ReadUInt32LittleEndian(_header.AsSpan(12)))
            throw MigrationErrors.Corrupt($"the CRC of frame {_expected} does not match");
        if (sequence != _expected) throw MigrationErrors.Corrupt($"frame {_expected} carries sequence number {sequence}");
        if (!Enum.IsDefined(type)) throw MigrationErrors.Corrupt($"frame {_expected} has the unknown tag {(uint)type:x8}");
        _expected++;
        return new Frame(type, sequence, payload);
    }

    /// <summary>Reads the whole buffer; an end of stream says whether it came between frames or inside one.</summary>
    private void ReadExactly(Span<byte> buffer, bool header)
    {
        int read = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        if (read == buffer.Length) return;
        string where = header && read == 0 ? $"before frame {_expected}" : $"inside frame {_expected}";
        throw MigrationErrors.Lost($"{where}: the peer closed the connection");
    }
}

/// <summary>
/// The connection as the session sees it: counts the bytes each way (the figures of the report) and
/// turns every I/O failure of the transport (a reset, a timeout, a closed socket) into the typed
/// <see cref="GmmError.MigrationConnectionLost"/>.
/// </summary>
internal sealed class MeteredStream(Stream inner, TimeSpan frameTimeout) : Stream
{
    private long _frameDeadline;
    private int _timeoutBeforeFrame;

    public long BytesRead { get; private set; }
    public long BytesWritten { get; private set; }

    /// <summary>A frame began arriving: every read until <see cref="EndFrame"/> shares one deadline.</summary>
    public void BeginFrame()
    {
        _frameDeadline = Stopwatch.GetTimestamp() + (long)(frameTimeout.TotalSeconds * Stopwatch.Frequency);
        if (inner.CanTimeout) _timeoutBeforeFrame = inner.ReadTimeout;
    }

    /// <summary>The frame is read: the connection's own read timeout applies again.</summary>
    public void EndFrame()
    {
        if (_frameDeadline == 0) return;
        _frameDeadline = 0;
        if (inner.CanTimeout) inner.ReadTimeout = _timeoutBeforeFrame;
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        int n;
        if (_frameDeadline != 0)
        {
            long left = _frameDeadline - Stopwatch.GetTimestamp();
            if (left <= 0) throw MigrationErrors.Lost($"the peer took more than {frameTimeout.TotalSeconds:0.#} s to send one frame");
            if (inner.CanTimeout) inner.ReadTimeout = (int)Math.Clamp(left * 1000 / Stopwatch.Frequency, 1, int.MaxValue);
        }
        try
        {
            n = inner.Read(buffer);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            throw MigrationErrors.Lost("while reading", e);
        }
        BytesRead += n;
        return n;
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        try
        {
            inner.Write(buffer);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            throw MigrationErrors.Lost("while writing", e);
        }
        BytesWritten += buffer.Length;
    }

    public override void Flush()
    {
        try
        {
            inner.Flush();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            throw MigrationErrors.Lost("while writing", e);
        }
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
