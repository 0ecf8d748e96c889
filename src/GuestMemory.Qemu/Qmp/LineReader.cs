namespace GuestMemory.Qemu;

/// <summary>
/// Reads newline-terminated lines from a stream with a bound on their length, for the two line
/// protocols of this layer (QMP and the guest's command channel): a peer that never sends a newline
/// fails with <see cref="InvalidDataException"/> instead of growing memory without end. A trailing
/// carriage return is dropped. One reader at a time (not thread-safe).
/// </summary>
internal sealed class LineReader
{
    private readonly Stream _stream;
    private readonly int _maxLineBytes;
    private byte[] _buffer = new byte[8192];
    private int _start, _end;

    public LineReader(Stream stream, int maxLineBytes)
    {
        _stream = stream;
        _maxLineBytes = maxLineBytes;
    }

    /// <summary>The next line without its terminator, or null at the end of the stream (a last unterminated line is dropped).</summary>
    /// <exception cref="InvalidDataException">A line is longer than the bound.</exception>
    public async ValueTask<byte[]?> ReadLineAsync(CancellationToken cancel)
    {
        int examined = 0; // bytes after _start already searched for a newline
        while (true)
        {
            int from = _start + examined;
            int newline = Array.IndexOf(_buffer, (byte)'\n', from, _end - from);
            if (newline >= 0)
            {
                int length = newline - _start;
                if (length > 0 && _buffer[newline - 1] == (byte)'\r') length--;
                byte[] line = _buffer.AsSpan(_start, length).ToArray();
                _start = newline + 1;
                return line;
            }
            examined = _end - _start;
            if (examined > _maxLineBytes) throw new InvalidDataException($"a line is longer than {_maxLineBytes} bytes");
            Compact();
            int n = await _stream.ReadAsync(_buffer.AsMemory(_end), cancel).ConfigureAwait(false);
            if (n == 0) return null;
            _end += n;
        }
    }

    /// <summary>Moves the unread bytes to the front, and grows the buffer when it is full.</summary>
    private void Compact()
    {
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }
        if (_end == _buffer.Length) Array.Resize(ref _buffer, Math.Min(_buffer.Length * 2, _maxLineBytes + 2));
    }
}
