using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace GuestMemory.Qemu;

/// <summary>
/// A guest's RAM as a memfd this process creates and keeps: sized with ftruncate (so it costs nothing
/// until the guest touches it), handed to QEMU by path (<see cref="QemuPath"/>,
/// <c>/proc/&lt;this pid&gt;/fd/&lt;n&gt;</c>, which QEMU opens and maps shared), and read here while the
/// guest runs.
/// </summary>
/// <remarks>
/// <para><b>Reading.</b> Reads use pread (<see cref="Read"/>), never a mapping: a read through a shared
/// mapping of a hole allocates a page in the memfd (measured on Linux 6.x: reading 1 MiB of holes
/// through the mapping made 1 MiB resident), which would inflate the very figure the owner watches and
/// undo the holes a balloon punches; pread of a hole returns zeros and allocates nothing.
/// <see cref="NextData"/> finds the allocated extents (SEEK_DATA/SEEK_HOLE), so a scan skips the RAM
/// the guest never touched. Writes (<see cref="Write"/>, <see cref="Discard"/>) are for RAM whose QEMU does not
/// run the guest yet: a resume fills it (QemuVmStore.ResumeGuestAsync).</para>
/// <para><b>Layout.</b> Offset N of the memfd is QEMU's RAM address N of its main RAM block: for a PC
/// guest whose RAM fits below the PCI hole (up to 2.75 GiB here) that is guest-physical address N too,
/// so a copy of the memfd is what <c>pmemsave 0 size</c> writes.</para>
/// <para><b>Lifetime.</b> The descriptor is close-on-exec: QEMU opens its own reference by path, so
/// disposing this object while QEMU runs does not take the RAM from the guest; the memory is freed when
/// both are gone. Thread-safe: pread and statx have no shared state; <see cref="Dispose"/> must not race
/// a read (the owner disposes after the scans stop).</para>
/// </remarks>
public sealed class GuestRam : IDisposable
{
    private readonly SafeFileHandle _handle;

    private GuestRam(SafeFileHandle handle, int fd, long size, string name)
    {
        _handle = handle;
        Fd = fd;
        Size = size;
        Name = name;
    }

    /// <summary>Creates a memfd of <paramref name="size"/> bytes (a whole number of 4 KiB pages, at least 1 MiB).</summary>
    /// <param name="name">A label shown in /proc/&lt;pid&gt;/fd (<c>memfd:NAME</c>).</param>
    /// <param name="size">Guest RAM size in bytes.</param>
    /// <exception cref="QemuException"><see cref="QemuError.InvalidArgument"/> for a bad size;
    /// <see cref="QemuError.HostResourceFailed"/> when the kernel refuses the memfd or its size.</exception>
    public static GuestRam Create(string name, long size)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (size < (1 << 20) || (size & Paging.PageOffsetMask) != 0)
            throw new QemuException(QemuError.InvalidArgument, $"guest RAM must be a whole number of 4 KiB pages and at least 1 MiB, not {size} bytes");
        if (!OperatingSystem.IsLinux()) throw new QemuException(QemuError.HostResourceFailed, "guest RAM is a Linux memfd");
        int fd = QemuNative.MemfdCreate("gmm-" + name, QemuNative.MfdCloexec);
        if (fd < 0) throw new QemuException(QemuError.HostResourceFailed, $"memfd_create failed: errno {Marshal.GetLastPInvokeError()}");
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        if (QemuNative.Ftruncate(fd, size) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            handle.Dispose();
            throw new QemuException(QemuError.HostResourceFailed, $"ftruncate of the guest RAM memfd to {size} bytes failed: errno {errno}");
        }
        return new GuestRam(handle, fd, size, name);
    }

    /// <summary>
    /// Opens, read-only, the RAM of a guest another process owns, by the path of its memfd
    /// (<see cref="GuestRecord.RamPath"/>: <c>/proc/OWNER/fd/N</c>, which the same user or root may open).
    /// </summary>
    /// <exception cref="QemuException"><see cref="QemuError.GuestNotFound"/> when the path does not open.</exception>
    public static GuestRam Open(string path, string name)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(name);
        SafeFileHandle handle;
        try { handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new QemuException(QemuError.GuestNotFound, $"the RAM of guest {name} ({path}) cannot be opened: {e.Message}", e);
        }
        long size = RandomAccess.GetLength(handle);
        return new GuestRam(handle, (int)handle.DangerousGetHandle(), size, name);
    }

    /// <summary>The guest (and memfd) name.</summary>
    public string Name { get; }

    /// <summary>Size in bytes.</summary>
    public long Size { get; }

    /// <summary>Size in 4 KiB pages.</summary>
    public long Pages => Size >> Paging.PageShift;

    /// <summary>The descriptor number in this process.</summary>
    public int Fd { get; }

    /// <summary>The path another process (QEMU) opens to map this memory: <c>/proc/&lt;this pid&gt;/fd/&lt;fd&gt;</c>.</summary>
    public string QemuPath => $"/proc/{Environment.ProcessId}/fd/{Fd}";

    /// <summary>True once disposed.</summary>
    public bool IsDisposed => _handle.IsClosed;

    /// <summary>
    /// Bytes of the memfd that hold a page now (the kernel's allocated-block count, statx): the host
    /// memory the guest's RAM costs. A page the guest never touched, or that a balloon gave back with a
    /// punched hole, is not counted. Cheap (one system call).
    /// </summary>
    /// <exception cref="ObjectDisposedException">After <see cref="Dispose"/>.</exception>
    public long ResidentBytes
    {
        get
        {
            ObjectDisposedException.ThrowIf(IsDisposed, this);
            long bytes = QemuNative.AllocatedBytes(Fd);
            if (bytes < 0) throw new QemuException(QemuError.HostResourceFailed, $"statx of the guest RAM memfd failed: errno {Marshal.GetLastPInvokeError()}");
            return bytes;
        }
    }

    /// <summary>Pages of the memfd that hold a page now (<see cref="ResidentBytes"/> / 4 KiB).</summary>
    public long ResidentPages => ResidentBytes >> Paging.PageShift;

    /// <summary>
    /// Copies guest RAM from <paramref name="offset"/> into <paramref name="buffer"/> (pread: allocates
    /// nothing; holes read as zeros) and returns the bytes read (short only at the end of the RAM).
    /// </summary>
    /// <exception cref="QemuException"><see cref="QemuError.InvalidArgument"/> for an offset outside the RAM.</exception>
    public int Read(long offset, Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        if (offset < 0 || offset > Size) throw new QemuException(QemuError.InvalidArgument, $"offset {offset} is outside the guest's {Size} bytes of RAM");
        int want = (int)Math.Min(buffer.Length, Size - offset), done = 0;
        while (done < want)
        {
            int n = RandomAccess.Read(_handle, buffer[done..want], offset + done);
            if (n == 0) break;
            done += n;
        }
        return done;
    }

    /// <summary>
    /// Writes <paramref name="data"/> into guest RAM at <paramref name="offset"/> (pwrite; the pages it covers
    /// become resident). For RAM a QEMU maps but does not run yet: a resume fills it before QEMU loads the
    /// device state. Not for a guest that runs (its own writes would race these).
    /// </summary>
    /// <exception cref="QemuException"><see cref="QemuError.InvalidArgument"/> for a range outside the RAM;
    /// <see cref="QemuError.HostResourceFailed"/> when the write fails (RAM opened read-only by <see cref="Open"/>).</exception>
    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        CheckRange(offset, data.Length);
        try { RandomAccess.Write(_handle, data, offset); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            throw new QemuException(QemuError.HostResourceFailed, $"writing {data.Length} bytes of guest {Name}'s RAM at {offset} failed: {e.Message}", e);
        }
    }

    /// <summary>
    /// Makes <paramref name="length"/> bytes from <paramref name="offset"/> (whole pages) zero and gives their
    /// memory back to the host (a punched hole; the size stays).
    /// </summary>
    /// <exception cref="QemuException"><see cref="QemuError.InvalidArgument"/> for a range outside the RAM or not page-aligned;
    /// <see cref="QemuError.HostResourceFailed"/> when the kernel refuses.</exception>
    public void Discard(long offset, long length)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        CheckRange(offset, length);
        if (((offset | length) & Paging.PageOffsetMask) != 0) throw new QemuException(QemuError.InvalidArgument, $"a discarded range is whole pages, not {length} bytes at {offset}");
        if (length == 0) return;
        if (QemuNative.Fallocate(Fd, QemuNative.FallocPunchHole | QemuNative.FallocKeepSize, offset, length) != 0)
            throw new QemuException(QemuError.HostResourceFailed, $"punching {length} bytes of guest {Name}'s RAM at {offset} failed: errno {Marshal.GetLastPInvokeError()}");
    }

    private void CheckRange(long offset, long length)
    {
        if (offset < 0 || length < 0 || offset > Size - length)
            throw new QemuException(QemuError.InvalidArgument, $"{length} bytes at {offset} are outside the guest's {Size} bytes of RAM");
    }

    /// <summary>
    /// The next allocated extent at or after <paramref name="offset"/>: its start and end (exclusive),
    /// or null when only holes follow. Pages outside every extent read as zero and cost nothing.
    /// </summary>
    public (long Start, long End)? NextData(long offset)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        if (offset >= Size) return null;
        long start = QemuNative.Lseek(Fd, offset, QemuNative.SeekData);
        if (start < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno == QemuNative.ENXIO) return null; // no data after offset
            throw new QemuException(QemuError.HostResourceFailed, $"lseek(SEEK_DATA) on the guest RAM memfd failed: errno {errno}");
        }
        long end = QemuNative.Lseek(Fd, start, QemuNative.SeekHole);
        if (end < 0) end = Size; // the data moved meanwhile: read to the end, holes read as zeros
        return (start, Math.Min(end, Size));
    }

    /// <summary>Copies the whole RAM to <paramref name="destination"/> (a raw dump, as <c>gmm analyze</c> reads it); holes are written as zeros.</summary>
    public void CopyTo(Stream destination, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(destination);
        byte[] buffer = new byte[1 << 20];
        for (long offset = 0; offset < Size;)
        {
            cancel.ThrowIfCancellationRequested();
            int n = Read(offset, buffer);
            destination.Write(buffer, 0, n);
            offset += n;
        }
    }

    /// <summary>Closes this process's descriptor (QEMU keeps its own until it exits).</summary>
    public void Dispose() => _handle.Dispose();
}
