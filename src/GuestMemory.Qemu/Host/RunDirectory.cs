using System.Globalization;
using System.Text.Json;

namespace GuestMemory.Qemu;

/// <summary>
/// Where a process keeps its guests' sockets, console logs and records: <c>$TMPDIR/gmm-qemu/PID/NAME/</c>.
/// The folder <c>PID</c> holds an <c>owner</c> file with this process's pid and start time, so a later
/// process can tell a folder whose owner died (even by SIGKILL) and end what it left
/// (<see cref="ReapStale"/>). Another <c>gmm</c> finds running guests through the records
/// (<see cref="FindGuests"/>).
/// </summary>
/// <remarks>Thread-safe: creation of this process's folder is guarded by <c>Gate</c>; guests use their own subfolders.</remarks>
public static class RunDirectory
{
    private const string OwnerFile = "owner", RecordFile = "guest.json";
    private static readonly Lock Gate = new();
    private static string? _own;

    /// <summary>The folder all owners' folders live in.</summary>
    public static string Root => Path.Combine(Path.GetTempPath(), "gmm-qemu");

    /// <summary>This process's folder, created (and stale folders reaped) on first use.</summary>
    public static string Own
    {
        get
        {
            lock (Gate)
            {
                if (_own != null) return _own;
                ReapStale();
                string dir = Path.Combine(Root, Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
                Directory.CreateDirectory(dir);
                File.WriteAllText(Path.Combine(dir, OwnerFile), $"{Environment.ProcessId} {ProcessInfo.StartTime(Environment.ProcessId)}\n");
                AppDomain.CurrentDomain.ProcessExit += (_, _) => DeleteQuietly(dir); // what is left of it (a killed process leaves it to ReapStale)
                return _own = dir;
            }
        }
    }

    /// <summary>A new, empty folder for guest <paramref name="name"/> in this process's folder.</summary>
    /// <exception cref="QemuException"><see cref="QemuError.InvalidArgument"/> when a guest of that name exists in this process.</exception>
    public static string CreateGuestDirectory(string name)
    {
        string dir = Path.Combine(Own, name);
        lock (Gate)
        {
            if (Directory.Exists(dir)) throw new QemuException(QemuError.InvalidArgument, $"this process already runs a guest named '{name}'");
            Directory.CreateDirectory(dir);
        }
        return dir;
    }

    /// <summary>Writes a guest's record (read by <see cref="FindGuests"/>), atomically.</summary>
    public static void WriteRecord(string guestDirectory, GuestRecord record)
    {
        string path = Path.Combine(guestDirectory, RecordFile), temporary = path + ".tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(record));
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>The running guests of every live owner (their records), optionally only those named <paramref name="name"/>.</summary>
    public static IReadOnlyList<GuestRecord> FindGuests(string? name = null)
    {
        var found = new List<GuestRecord>();
        if (!Directory.Exists(Root)) return found;
        foreach (string owner in OwnerDirectories())
        {
            if (!OwnerAlive(owner)) continue;
            foreach (string guest in Directory.GetDirectories(owner))
            {
                GuestRecord? record = ReadRecord(guest);
                if (record != null && (name == null || record.Name == name) && ProcessInfo.IsAlive(record.QemuPid)) found.Add(record);
            }
        }
        return found;
    }

    /// <summary>
    /// Ends what owners that died left behind: each QEMU whose record is in a dead owner's folder is
    /// killed by its pid (only if that pid still runs QEMU with this folder on its command line, so a
    /// reused pid is never touched), then the folder is deleted. Returns the processes killed.
    /// </summary>
    public static int ReapStale()
    {
        if (!Directory.Exists(Root)) return 0;
        int killed = 0;
        foreach (string owner in OwnerDirectories())
        {
            if (OwnerAlive(owner)) continue;
            foreach (string guest in Directory.GetDirectories(owner))
            {
                GuestRecord? record = ReadRecord(guest);
                if (record != null && IsQemuOf(record.QemuPid, guest) && QemuNative.Kill(record.QemuPid, QemuNative.Sigkill) == 0) killed++;
            }
            DeleteQuietly(owner); // another process may reap it at the same time
        }
        return killed;
    }

    private static void DeleteQuietly(string dir)
    {
        try { Directory.Delete(dir, recursive: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* gone already, or busy: ReapStale takes it later */ }
    }

    /// <summary>The owners' folders: those named by a pid (anything else in the root is left alone).</summary>
    private static IEnumerable<string> OwnerDirectories() =>
        Directory.GetDirectories(Root).Where(d => int.TryParse(Path.GetFileName(d), NumberStyles.None, CultureInfo.InvariantCulture, out _));

    /// <summary>True when <paramref name="pid"/> runs a command line that names <paramref name="guestDirectory"/>.</summary>
    internal static bool IsQemuOf(int pid, string guestDirectory) =>
        ProcessInfo.IsAlive(pid) && (ProcessInfo.CommandLine(pid)?.Any(a => a.Contains(guestDirectory + "/", StringComparison.Ordinal)) ?? false);

    private static bool OwnerAlive(string ownerDirectory)
    {
        string? text;
        try { text = File.ReadAllText(Path.Combine(ownerDirectory, OwnerFile)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return IsFresh(ownerDirectory); }
        string[] parts = text.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length < 1 || !int.TryParse(parts[0], CultureInfo.InvariantCulture, out int pid)) return false;
        long? start = parts.Length > 1 && long.TryParse(parts[1], CultureInfo.InvariantCulture, out long s) ? s : null;
        return pid == Environment.ProcessId || ProcessInfo.IsAlive(pid, start);
    }

    /// <summary>A folder without an owner file yet may be one being created right now: leave it a minute.</summary>
    private static bool IsFresh(string dir) => DateTime.UtcNow - Directory.GetCreationTimeUtc(dir) < TimeSpan.FromMinutes(1);

    private static GuestRecord? ReadRecord(string guestDirectory)
    {
        try { return JsonSerializer.Deserialize<GuestRecord>(File.ReadAllText(Path.Combine(guestDirectory, RecordFile))); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException) { return null; }
    }
}

/// <summary>
/// What another process needs to reach a running guest: its QEMU pid, where its RAM is
/// (<c>/proc/OWNER/fd/FD</c>, readable by the same user or root) and its extra QMP socket.
/// </summary>
/// <param name="Name">The guest's name.</param>
/// <param name="OwnerPid">The process that started it and owns its RAM.</param>
/// <param name="QemuPid">Its QEMU.</param>
/// <param name="RamFd">The memfd's descriptor number in the owner, or -1 for anonymous RAM.</param>
/// <param name="RamBytes">Guest RAM size.</param>
/// <param name="MonitorSocket">A QMP server socket for other clients (the owner keeps its own connection).</param>
/// <param name="ConsoleLog">The guest's console log.</param>
/// <param name="Directory">The guest's folder.</param>
public sealed record GuestRecord(string Name, int OwnerPid, int QemuPid, int RamFd, long RamBytes, string MonitorSocket, string ConsoleLog, string Directory)
{
    /// <summary>The path through which another process reads the guest's RAM, or null for anonymous RAM.</summary>
    public string? RamPath => RamFd >= 0 ? $"/proc/{OwnerPid}/fd/{RamFd}" : null;
}
