using System.Text;

namespace GuestMemory.Qemu;

/// <summary>
/// Writes a cpio archive in the "newc" format (the SVR4 format without checksums, magic 070701), the
/// format the Linux kernel unpacks as an initramfs. Written here rather than taken from a package:
/// the format is a 110-byte ASCII header per entry plus the name and data padded to 4 bytes, NuGet
/// has no small library for it, and the <c>cpio</c> tool would need files on disk with the right
/// owners and device nodes (which only root may create), where an archive can simply state them.
/// </summary>
/// <remarks>
/// Entries get inode numbers from 1 up, owner root, modification time 0 (so the same inputs give the
/// same bytes) and one link each; hard links are not written. Names are relative paths without
/// <c>..</c>; each may appear once. Not thread-safe.
/// </remarks>
public sealed class CpioWriter : IDisposable
{
    private const int TypeDirectory = 0x4000, TypeRegular = 0x8000, TypeSymlink = 0xA000, TypeCharDevice = 0x2000;
    private readonly Stream _output;
    private readonly bool _leaveOpen;
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private int _nextInode = 1;
    private bool _finished;

    /// <summary>Writes to <paramref name="output"/>; <see cref="Finish"/> (or <see cref="Dispose"/>) writes the trailer.</summary>
    public CpioWriter(Stream output, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(output);
        _output = output;
        _leaveOpen = leaveOpen;
    }

    /// <summary>Adds a directory.</summary>
    public void AddDirectory(string path, UnixFileMode mode = (UnixFileMode)0x1ED /* 0755 */) =>
        Add(path, TypeDirectory | (int)mode, 2, [], 0, 0);

    /// <summary>Adds a regular file with <paramref name="data"/> as its contents.</summary>
    public void AddFile(string path, ReadOnlySpan<byte> data, UnixFileMode mode = (UnixFileMode)0x1A4 /* 0644 */) =>
        Add(path, TypeRegular | (int)mode, 1, data, 0, 0);

    /// <summary>Adds a symbolic link to <paramref name="target"/>.</summary>
    public void AddSymlink(string path, string target)
    {
        ArgumentException.ThrowIfNullOrEmpty(target);
        Add(path, TypeSymlink | 0x1FF, 1, Encoding.UTF8.GetBytes(target), 0, 0);
    }

    /// <summary>Adds a character device node (such as /dev/console, 5:1).</summary>
    public void AddCharDevice(string path, int major, int minor, UnixFileMode mode = (UnixFileMode)0x180 /* 0600 */)
    {
        if (major < 0 || minor < 0) throw new QemuException(QemuError.InvalidArgument, $"device numbers cannot be negative ({major}:{minor})");
        Add(path, TypeCharDevice | (int)mode, 1, [], major, minor);
    }

    /// <summary>Writes the trailer entry; nothing can be added afterwards. Idempotent.</summary>
    public void Finish()
    {
        if (_finished) return;
        WriteEntry("TRAILER!!!", 0, 0, 1, [], 0, 0);
        _finished = true;
        _output.Flush();
    }

    /// <summary>Finishes the archive and closes the stream unless told to leave it open.</summary>
    public void Dispose()
    {
        Finish();
        if (!_leaveOpen) _output.Dispose();
    }

    private void Add(string path, int mode, int links, ReadOnlySpan<byte> data, int rdevMajor, int rdevMinor)
    {
        if (_finished) throw new InvalidOperationException("the archive is finished");
        string name = Normalize(path);
        if (!_names.Add(name)) throw new QemuException(QemuError.InvalidArgument, $"'{name}' is already in the archive");
        WriteEntry(name, _nextInode++, mode, links, data, rdevMajor, rdevMinor);
    }

    /// <summary>"/bin/sh" and "bin/sh" are the same entry, "bin/sh"; "..", empty parts and NUL are refused.</summary>
    private static string Normalize(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string name = path.TrimStart('/');
        string[] parts = name.Split('/');
        if (name.Length == 0 || name.Contains('\0') || parts.Any(p => p is "" or "." or ".."))
            throw new QemuException(QemuError.InvalidArgument, $"'{path}' is not a plain relative path for an archive entry");
        return name;
    }

    private void WriteEntry(string name, int inode, int mode, int links, ReadOnlySpan<byte> data, int rdevMajor, int rdevMinor)
    {
        byte[] nameBytes = Encoding.UTF8.GetBytes(name + "\0");
        var header = new StringBuilder(110);
        header.Append("070701");
        foreach (long field in new long[] { inode, mode, 0, 0, links, 0, data.Length, 0, 0, rdevMajor, rdevMinor, nameBytes.Length, 0 })
            header.Append(field.ToString("x8", System.Globalization.CultureInfo.InvariantCulture));
        _output.Write(Encoding.ASCII.GetBytes(header.ToString()));
        _output.Write(nameBytes);
        Pad(110 + nameBytes.Length);
        _output.Write(data);
        Pad(data.Length);
    }

    private void Pad(int length)
    {
        int padding = (4 - (length & 3)) & 3;
        if (padding > 0) _output.Write(new byte[padding]);
    }
}
