namespace GuestMemory.State;

/// <summary>
/// Reads a saved state from any stream, seekable or not, turning "the stream ended" into the typed
/// <see cref="GmmError.StateTruncated"/>. Counts the bytes read, for error messages and the summary.
/// </summary>
internal sealed class StreamSource(Stream stream)
{
    public long Position { get; private set; }

    public void ReadExactly(Span<byte> buffer, string what)
    {
        try
        {
            stream.ReadExactly(buffer);
        }
        catch (EndOfStreamException e)
        {
            throw StateErrors.Truncated($"{what} at byte {Position}", e);
        }
        Position += buffer.Length;
    }
}
