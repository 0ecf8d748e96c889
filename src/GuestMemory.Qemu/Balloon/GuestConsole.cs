namespace GuestMemory.Qemu;

/// <summary>What a guest's console (ttyS0, written by QEMU to its folder) says about memory.</summary>
public static class GuestConsole
{
    /// <summary>The line Linux prints to the console (at error level, so also with <c>quiet</c>) for each process its OOM killer ends.</summary>
    public const string OomKillMarker = "Out of memory: Killed process";

    /// <summary>How many processes the guest's OOM killer has ended so far (0 when the log is gone).</summary>
    public static int OomKills(QemuGuest guest)
    {
        ArgumentNullException.ThrowIfNull(guest);
        try
        {
            return File.ReadLines(guest.Paths.ConsoleLog).Count(l => l.Contains(OomKillMarker, StringComparison.Ordinal));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 0; // the guest's folder was removed with it
        }
    }
}
