using System.Runtime.InteropServices;

namespace GuestMemory.Host;

/// <summary>
/// The few libc calls the Host layer needs. Hand-written because the BCL has no mmap/madvise with
/// MAP_NORESERVE and MADV_* control (MemoryMappedFile maps files, not sparse anonymous ranges).
/// Constants are the Linux generic ABI values (x86-64 and arm64 agree on all of them).
/// </summary>
internal static unsafe partial class LinuxNative
{
    public const int ProtRead = 1, ProtWrite = 2;
    public const int MapPrivate = 0x02, MapAnonymous = 0x20, MapNoReserve = 0x4000;
    public const int MadvDontNeed = 4, MadvMergeable = 12, MadvUnmergeable = 13, MadvHugePage = 14, MadvPopulateWrite = 23;
    public const int ENOMEM = 12, EINVAL = 22, EAGAIN = 11;
    public static readonly nint MapFailed = -1;

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    public static partial nint Mmap(nint addr, nuint length, int prot, int flags, int fd, nint offset);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    public static partial int Munmap(nint addr, nuint length);

    [LibraryImport("libc", EntryPoint = "mprotect", SetLastError = true)]
    public static partial int Mprotect(nint addr, nuint length, int prot);

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    public static partial int Madvise(nint addr, nuint length, int advice);

    /// <summary>Maps <paramref name="bytes"/> of private anonymous memory that commits nothing up front.</summary>
    public static nint MapAnonymousNoReserve(nuint bytes)
    {
        nint p = Mmap(0, bytes, ProtRead | ProtWrite, MapPrivate | MapAnonymous | MapNoReserve, -1, 0);
        return p == MapFailed ? 0 : p;
    }
}
