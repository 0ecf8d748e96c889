using System.Runtime.InteropServices;

namespace GuestMemory.Host;

/// <summary>
/// CPU time of the calling thread (clock_gettime CLOCK_THREAD_CPUTIME_ID): what a scanner or worker
/// really spent, for budgets and figures. The BCL only offers per-process CPU time.
/// </summary>
internal static partial class ThreadCpuTime
{
    private const int ClockThreadCpuTimeId = 3;

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out TimeSpec time);

    /// <summary>The calling thread's CPU time so far.</summary>
    public static TimeSpan Now()
    {
        if (!OperatingSystem.IsLinux() || ClockGetTime(ClockThreadCpuTimeId, out TimeSpec t) != 0)
            return TimeSpan.Zero;
        return TimeSpan.FromTicks(t.Seconds * TimeSpan.TicksPerSecond + t.Nanoseconds / 100);
    }
}
