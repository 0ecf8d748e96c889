using GuestMemory.Qemu;

namespace GuestMemory.Benchmarks;

/// <summary>
/// Whether a guest can hold a grower's tmpfs at all. tmpfs pages can be neither reclaimed nor swapped (the
/// guests have no swap), so a grower that fills what its kernel has left makes the OOM killer end every
/// process and the kernel then panics ("System is deadlocked on memory") — with or without a balloon. A
/// 384 MiB guest of Debian's 6.1 kernel has about 298 MiB available after boot (its kernel image alone keeps
/// 42 MiB), so the benchmark checks this once the guests are up instead of finding out from a dead guest.
/// </summary>
public static class GrowthRoom
{
    /// <summary>What the guest kernel keeps for itself beside a full tmpfs (its watermarks, the shell, the disk's
    /// metadata, the balloon's page lists); a bare 384 MiB guest survived 285 MiB with 15 MiB available left.</summary>
    public const long KernelHeadroomBytes = 16L << 20;

    /// <summary>The most tmpfs, whole MiB, a guest with <paramref name="availableBytes"/> available after boot can hold.</summary>
    public static int MaxGrowMib(long availableBytes) => (int)Math.Max(0, (availableBytes - KernelHeadroomBytes) >> 20);

    /// <summary>Checks that a guest with <paramref name="availableBytes"/> available after boot can hold <paramref name="growMib"/> MiB of tmpfs.</summary>
    /// <exception cref="QemuException"><see cref="QemuError.InvalidArgument"/>, saying the most it can hold.</exception>
    public static void Check(string guest, long ramBytes, long availableBytes, int growMib)
    {
        if (growMib <= MaxGrowMib(availableBytes)) return;
        throw new QemuException(QemuError.InvalidArgument,
            $"guest {guest} ({ramBytes >> 20} MiB) has {availableBytes >> 20} MiB available after boot: {growMib} MiB of tmpfs would leave its kernel " +
            $"nothing (tmpfs cannot be reclaimed; the guest would panic with or without a balloon); grow at most {MaxGrowMib(availableBytes)} MiB, or give the guests more RAM");
    }
}
