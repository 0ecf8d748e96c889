namespace GuestMemory.Qemu;

/// <summary>
/// Writes a resumed VM's main RAM block straight into the target QEMU's RAM (its memfd, which this process
/// owns) instead of sending it through the stream QEMU would copy it from: the RAM is punched empty first, so
/// zero pages stay holes that cost the host nothing, and pages whose addresses follow each other go out in one
/// write (a page file holds a VM's new pages mostly in guest order). Not thread-safe: one resume's writer.
/// </summary>
internal sealed class MainRamWriter
{
    private const int RunPages = 256;
    private readonly GuestRam _ram;
    private readonly byte[] _run = new byte[RunPages * QemuStreamFormat.PageSize];
    private long _start;
    private int _count;

    /// <summary>Takes <paramref name="ram"/> for a block of <paramref name="length"/> bytes and empties it.</summary>
    /// <exception cref="QemuException"><see cref="QemuError.ResumeRefused"/> when the sizes differ; <see cref="QemuError.HostResourceFailed"/> when the RAM cannot be emptied.</exception>
    public MainRamWriter(GuestRam ram, long length)
    {
        if (ram.Size != length)
            throw new QemuException(QemuError.ResumeRefused, $"the target's RAM is {ram.Size >> 20} MiB, the stored VM's main RAM block {length >> 20} MiB");
        _ram = ram;
        ram.Discard(0, ram.Size); // whatever QEMU put there while it started: the stored RAM replaces all of it
    }

    /// <summary>The page at byte <paramref name="offset"/> of the block (not a zero page: those are the holes).</summary>
    public void Write(long offset, ReadOnlySpan<byte> page)
    {
        if (_count > 0 && (_count == RunPages || offset != _start + (long)_count * QemuStreamFormat.PageSize)) Flush();
        if (_count == 0) _start = offset;
        page.CopyTo(_run.AsSpan(_count++ * QemuStreamFormat.PageSize));
    }

    /// <summary>Writes what is gathered; the RAM holds every page given so far once this returns.</summary>
    public void Flush()
    {
        if (_count == 0) return;
        _ram.Write(_start, _run.AsSpan(0, _count * QemuStreamFormat.PageSize));
        _count = 0;
    }
}
