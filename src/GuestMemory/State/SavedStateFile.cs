using System.Runtime.InteropServices;

namespace GuestMemory.State;

/// <summary>
/// Writes a saved state to a file so that the path only ever names a complete state: the state goes
/// to a temporary file in the same directory (so the rename cannot cross file systems), is flushed to
/// disk (fsync), and is renamed over the path (rename(2) replaces atomically); then the directory is
/// synced so the rename itself survives a crash. On any failure the temporary file is deleted and the
/// path keeps what it had.
/// </summary>
internal static partial class SavedStateFile
{
    private const int ORdonly = 0, ODirectory = 0x10000; // Linux generic values (x86-64 and arm64 agree)

    public static T Write<T>(string path, Func<Stream, T> write)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        string target = Path.GetFullPath(path);
        string directory = Path.GetDirectoryName(target) ?? throw new ArgumentException($"{path} names no file", nameof(path));
        string temporary = Path.Combine(directory, $".{Path.GetFileName(target)}.{Guid.NewGuid():N}.tmp");
        try
        {
            T result;
            using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0))
            {
                result = write(file);
                file.Flush(flushToDisk: true);
            }
            File.Move(temporary, target, overwrite: true);
            SyncDirectory(directory);
            return result;
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }
    }

    private static void TryDelete(string temporary)
    {
        try
        {
            File.Delete(temporary);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The original failure matters more; a stray hidden temporary file is harmless.
        }
    }

    /// <summary>Opens a saved state for reading, sequentially.</summary>
    public static FileStream OpenRead(string path) =>
        new(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16, FileOptions.SequentialScan);

    /// <summary>fsync on the directory, where the OS allows it (best effort: the file itself is already durable).</summary>
    private static void SyncDirectory(string directory)
    {
        if (!OperatingSystem.IsLinux()) return;
        int fd = Open(directory, ORdonly | ODirectory);
        if (fd < 0) return;
        Fsync(fd);
        Close(fd);
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync")]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
