using System.Diagnostics;

namespace GuestMemory.Qemu;

/// <summary>
/// A guest's own disk: a sparse raw image file with an empty ext4 file system, made with the host's
/// <c>mkfs.ext4</c> (Debian's <c>e2fsprogs</c>), attached with <see cref="GuestOptions.Disks"/> and seen
/// by the guest as <c>/dev/vda</c> (the image's <c>ext4</c> module, with <c>crc32c_generic</c> for its
/// checksums: <see cref="Modules"/>). Its page cache is memory the guest can drop, which is what a
/// balloon takes first.
/// </summary>
public static class GuestDisk
{
    /// <summary>The modules a guest needs to mount the disk (ext4 asks the crypto layer for crc32c, which an initramfs without modprobe cannot load on demand).</summary>
    public static readonly IReadOnlyList<string> Modules = ["virtio_blk", "ext4", "crc32c_generic"];

    /// <summary>What to install when <c>mkfs.ext4</c> is missing.</summary>
    public const string Hint = "install Debian's e2fsprogs (apt-get install --no-install-recommends e2fsprogs)";

    /// <summary>Creates <paramref name="path"/> as a sparse image of <paramref name="sizeBytes"/> with an empty ext4 file system.</summary>
    /// <exception cref="QemuException"><see cref="QemuError.InvalidArgument"/> for a size that is not whole MiB from 16 MiB to 1 TiB;
    /// <see cref="QemuError.ToolNotFound"/> without <c>mkfs.ext4</c>; <see cref="QemuError.HostResourceFailed"/> when it fails
    /// (the file is removed then).</exception>
    public static void CreateExt4(string path, long sizeBytes)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (sizeBytes < 16L << 20 || sizeBytes > 1L << 40 || sizeBytes % (1 << 20) != 0)
            throw new QemuException(QemuError.InvalidArgument, $"a disk is whole MiB from 16 MiB to 1 TiB, not {sizeBytes} bytes");
        string mkfs = new[] { "/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4" }.FirstOrDefault(File.Exists)
            ?? throw new QemuException(QemuError.ToolNotFound, $"mkfs.ext4 is missing: {Hint}");
        try
        {
            using (var file = new FileStream(path, FileMode.Create, FileAccess.Write)) file.SetLength(sizeBytes);
            var start = new ProcessStartInfo(mkfs) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (string a in new[] { "-q", "-F", "-E", "nodiscard,lazy_itable_init=1", path }) start.ArgumentList.Add(a);
            using Process p = Process.Start(start)!;
            string errors = p.StandardError.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0) throw new QemuException(QemuError.HostResourceFailed, $"mkfs.ext4 {path} failed ({p.ExitCode}): {errors.Trim()}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or QemuException)
        {
            File.Delete(path);
            throw e as QemuException ?? new QemuException(QemuError.HostResourceFailed, $"cannot create the disk image {path}: {e.Message}", e);
        }
    }
}
