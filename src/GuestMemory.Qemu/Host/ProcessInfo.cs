using System.Globalization;

namespace GuestMemory.Qemu;

/// <summary>What /proc says about another process: alive, its start time (to tell a reused pid), its command line, its RSS.</summary>
public static class ProcessInfo
{
    /// <summary>The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), or null when it does not exist.</summary>
    public static long? StartTime(int pid)
    {
        string? stat = TryRead($"/proc/{pid}/stat");
        if (stat == null) return null;
        int close = stat.LastIndexOf(')');
        if (close < 0) return null;
        string[] fields = stat[(close + 2)..].Split(' '); // fields from 3 (state) on
        return fields.Length > 19 && long.TryParse(fields[22 - 3], NumberStyles.None, CultureInfo.InvariantCulture, out long ticks) ? ticks : null;
    }

    /// <summary>True when <paramref name="pid"/> exists, has not exited (a zombie counts as exited), and, when given, started at <paramref name="startTime"/>.</summary>
    public static bool IsAlive(int pid, long? startTime = null)
    {
        if (pid <= 0) return false;
        string? stat = TryRead($"/proc/{pid}/stat");
        if (stat == null) return false;
        int close = stat.LastIndexOf(')');
        if (close < 0 || close + 2 >= stat.Length || stat[close + 2] is 'Z' or 'X') return false;
        return startTime == null || StartTime(pid) == startTime;
    }

    /// <summary>The process's arguments (/proc/PID/cmdline), or null when it does not exist.</summary>
    public static string[]? CommandLine(int pid) =>
        TryRead($"/proc/{pid}/cmdline")?.Split('\0', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>The process's resident set in bytes (VmRSS of /proc/PID/status: anonymous, file and shared memory), or null when it is gone.</summary>
    public static long? RssBytes(int pid)
    {
        string? status = TryRead($"/proc/{pid}/status");
        if (status == null) return null;
        foreach (string line in status.Split('\n'))
        {
            if (!line.StartsWith("VmRSS:", StringComparison.Ordinal)) continue;
            string[] parts = line[6..].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            return parts.Length > 0 && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out long kb) ? kb * 1024 : null;
        }
        return null; // a zombie has no VmRSS
    }

    private static string? TryRead(string path)
    {
        try { return File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }
}
