using System.Runtime.InteropServices;

namespace GuestMemory.Qemu;

/// <summary>
/// The libc calls the QEMU layer needs that the BCL lacks: memfd_create (guest RAM), lseek with
/// SEEK_DATA/SEEK_HOLE (finding the RAM the guest never touched), statx (the memfd's allocated blocks),
/// ioctl on /dev/kvm (the accelerator probe), kill (ending a QEMU by pid) and fallocate (punching holes
/// in guest RAM a resume leaves zero). The core's
/// <c>LinuxNative</c> stays internal to the core; these are the layer's own. statx is used rather than
/// fstat because its structure is the same on every architecture.
/// </summary>
internal static unsafe partial class QemuNative
{
    public const uint MfdCloexec = 1;
    public const int SeekData = 3, SeekHole = 4;
    public const int ENXIO = 6, ESRCH = 3, EINTR = 4;
    public const int AtEmptyPath = 0x1000;
    public const uint StatxBlocks = 0x400, StatxSize = 0x200;
    public const int Sigkill = 9, Sigterm = 15;

    [LibraryImport("libc", EntryPoint = "memfd_create", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int MemfdCreate(string name, uint flags);

    [LibraryImport("libc", EntryPoint = "ftruncate", SetLastError = true)]
    public static partial int Ftruncate(int fd, long length);

    [LibraryImport("libc", EntryPoint = "lseek", SetLastError = true)]
    public static partial long Lseek(int fd, long offset, int whence);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fallocate", SetLastError = true)]
    public static partial int Fallocate(int fd, int mode, long offset, long length);

    public const int FallocKeepSize = 1, FallocPunchHole = 2;

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static partial int Ioctl(int fd, nuint request, nint argument);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    public const int ORdwr = 2, OCloexec = 0x80000;

    /// <summary>The allocated bytes of an open file (statx stx_blocks × 512), or -1 with errno set.</summary>
    public static long AllocatedBytes(int fd)
    {
        byte* buffer = stackalloc byte[256]; // struct statx is 256 bytes
        if (Statx(fd, "", AtEmptyPath, StatxBlocks | StatxSize, buffer) != 0) return -1;
        return *(long*)(buffer + 48) * 512; // stx_blocks: u64 at offset 48 on every architecture
    }
}
