using System.Buffers.Binary;
using System.Runtime.InteropServices;
using GuestMemory.Cli.Output;

namespace GuestMemory.Cli;

/// <summary>
/// Checks a file gmm is to read before it opens it: it must exist and be a regular file. Opening a FIFO
/// for reading blocks until a writer comes, and a device such as <c>/dev/zero</c> never ends, so
/// <c>gmm analyze</c> would hang on either; neither is a memory dump. .NET tells no file type apart from
/// directories, so the type comes from Linux's <c>statx</c>, whose layout is the same on every
/// architecture.
/// </summary>
internal static partial class InputFile
{
    private const int AtFdCwd = -100, StatxType = 0x1, StatxModeOffset = 0x1C, StatxSize = 256;
    private const int FileTypeMask = 0xF000, RegularFile = 0x8000, Directory = 0x4000, Fifo = 0x1000, CharacterDevice = 0x2000, BlockDevice = 0x6000, Socket = 0xC000;
    private const int NoSuchFile = 2, NotADirectory = 20;

    /// <summary>Throws unless <paramref name="path"/> names an existing regular file (symbolic links followed).</summary>
    /// <param name="what">What the file is for, for the message ("dump").</param>
    /// <exception cref="CliException"><see cref="CliError.FileNotFound"/> or <see cref="CliError.NotARegularFile"/>.</exception>
    public static void RequireRegular(string path, string what)
    {
        if (!OperatingSystem.IsLinux())
        {
            if (!File.Exists(path)) throw new CliException(CliError.FileNotFound, $"no such {what}: {path}");
            return;
        }
        int type = FileType(path);
        if (type == RegularFile) return;
        string kind = type switch
        {
            Directory => "a directory",
            Fifo => "a FIFO (named pipe)",
            CharacterDevice => "a character device",
            BlockDevice => "a block device",
            Socket => "a socket",
            _ => "not a regular file",
        };
        throw new CliException(CliError.NotARegularFile, $"the {what} {path} is {kind}: only regular files are read (a pipe or a device could block or never end)");
    }

    /// <summary>The S_IFMT bits of the file's mode.</summary>
    private static unsafe int FileType(string path)
    {
        byte* buffer = stackalloc byte[StatxSize];
        if (Statx(AtFdCwd, path, 0, StatxType, buffer) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno is NoSuchFile or NotADirectory) throw new CliException(CliError.FileNotFound, $"no such file: {path}");
            throw new CliException(CliError.IoError, $"cannot read {path}: {Marshal.GetPInvokeErrorMessage(errno)}");
        }
        return BinaryPrimitives.ReadUInt16LittleEndian(new ReadOnlySpan<byte>(buffer + StatxModeOffset, 2)) & FileTypeMask;
    }

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static unsafe partial int Statx(int directoryFd, string path, int flags, uint mask, byte* buffer);
}
