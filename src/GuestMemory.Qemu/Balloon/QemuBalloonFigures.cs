using GuestMemory.Balloon;

namespace GuestMemory.Qemu;

/// <summary>
/// Turns what QEMU and the guest report (QMP <c>query-balloon</c>'s <c>actual</c>, the balloon driver's
/// <c>guest-stats</c>) into the controller's view of the guest (<see cref="BalloonDriverStatus"/>).
/// A pure function, tested on recorded figures.
/// </summary>
/// <remarks>
/// The guest's idle memory is its <c>stat-available-memory</c> (Linux's MemAvailable: free pages plus the
/// page cache and slab it could drop). Not free plus <c>stat-disk-caches</c>: the disk caches count tmpfs
/// pages (shmem), which a guest without swap can never give, so a guest that fills tmpfs would look idle.
/// Everything else the guest can see is used. With deflate-on-oom the guest's total still counts the
/// balloon, but the balloon's pages are neither free nor available, so the same sums hold.
/// </remarks>
public static class QemuBalloonFigures
{
    /// <summary>The driver status for a guest of <paramref name="ramBytes"/> whose RAM is <paramref name="actualBytes"/> now.</summary>
    /// <param name="ramBytes">The guest's RAM.</param>
    /// <param name="actualBytes">QMP <c>query-balloon</c>'s <c>actual</c>: RAM less the balloon.</param>
    /// <param name="availableBytes">The guest's available memory, or null before its first statistics (then nothing is idle).</param>
    /// <param name="bufferBytes">Free memory the guest keeps (<see cref="QemuBalloonPolicy.BufferBytes"/>).</param>
    public static BalloonDriverStatus Status(long ramBytes, long actualBytes, long? availableBytes, long bufferBytes)
    {
        long ram = ramBytes >> Paging.PageShift;
        long ballooned = Math.Clamp(ram - (actualBytes >> Paging.PageShift), 0, ram);
        long visible = ram - ballooned;
        long idle = Math.Clamp((availableBytes ?? 0) >> Paging.PageShift, 0, visible);
        long used = visible - idle;
        long needed = Math.Min(ram, used + (bufferBytes >> Paging.PageShift));
        return new BalloonDriverStatus(ballooned, idle, used, needed);
    }
}
