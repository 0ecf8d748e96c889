using System.Runtime.InteropServices;

namespace GuestMemory.Host;

/// <summary>
/// Puts the calling thread in Linux's SCHED_IDLE class: it runs only when a CPU would otherwise idle,
/// which is what the seed asks of the sharing and defragmentation threads. (.NET thread priorities do
/// not change the OS scheduling class on Linux.)
/// </summary>
internal static partial class IdleScheduling
{
    private const int SchedIdle = 5;

    [StructLayout(LayoutKind.Sequential)]
    private struct SchedParam
    {
        public int Priority;
    }

    [LibraryImport("libc", EntryPoint = "sched_setscheduler", SetLastError = true)]
    private static partial int SchedSetScheduler(int pid, int policy, in SchedParam param);

    /// <summary>Makes the calling thread idle-priority; returns false where the OS does not allow it.</summary>
    public static bool MakeCurrentThreadIdle()
    {
        Thread.CurrentThread.Priority = ThreadPriority.Lowest;
        return OperatingSystem.IsLinux() && SchedSetScheduler(0, SchedIdle, new SchedParam()) == 0;
    }
}
