using GuestMemory.Gmm;

namespace GuestMemory.Qemu;

/// <summary>
/// How the balloon controller treats one QEMU guest: its limits, its shares, and the free memory it keeps
/// (the same knobs a VM of the Gmm has in <see cref="VmOptions"/>).
/// </summary>
public sealed record QemuBalloonPolicy
{
    /// <summary>The least RAM the controller leaves the guest, bytes (whole MiB, at least 16 MiB). Default 64 MiB.</summary>
    public long MinimumRamBytes { get; init; } = 64L << 20;

    /// <summary>The most RAM the guest may have, bytes, or null for all of it.</summary>
    public long? MaximumRamBytes { get; init; }

    /// <summary>The guest's memory weight (shares), 1-10000. Default 1.</summary>
    public int Weight { get; init; } = 1;

    /// <summary>The guest's priority: low : normal : high shares 1 : 2 : 4.</summary>
    public VmPriority Priority { get; init; } = VmPriority.Normal;

    /// <summary>
    /// Free memory the guest keeps for its next allocations, bytes (Hyper-V's "memory buffer"): the guest's
    /// available memory up to this much is not idle, and below it the guest asks for more. Without it a
    /// guest whose workload grows would run dry before the controller heard of it (the guest's statistics
    /// arrive once a second). Default 24 MiB.
    /// </summary>
    public long BufferBytes { get; init; } = 24L << 20;

    /// <summary>Checks the policy against a guest of <paramref name="ramBytes"/>.</summary>
    /// <exception cref="QemuException"><see cref="QemuError.InvalidArgument"/>.</exception>
    public void Validate(long ramBytes)
    {
        if (MinimumRamBytes < 16L << 20 || MinimumRamBytes % (1 << 20) != 0 || MinimumRamBytes > ramBytes)
            throw new QemuException(QemuError.InvalidArgument, $"the minimum RAM must be whole MiB from 16 MiB to the guest's {ramBytes >> 20} MiB, not {MinimumRamBytes} bytes");
        if (MaximumRamBytes is long max && (max < MinimumRamBytes || max > ramBytes || max % (1 << 20) != 0))
            throw new QemuException(QemuError.InvalidArgument, $"the maximum RAM must be whole MiB from the minimum to the guest's {ramBytes >> 20} MiB, not {max} bytes");
        if (Weight is < 1 or > 10000) throw new QemuException(QemuError.InvalidArgument, $"a weight is 1-10000, not {Weight}");
        if (!Enum.IsDefined(Priority)) throw new QemuException(QemuError.InvalidArgument, $"unknown priority {Priority}");
        if (BufferBytes < 0 || BufferBytes > ramBytes / 2)
            throw new QemuException(QemuError.InvalidArgument, $"the buffer must be 0 to half the guest's RAM, not {BufferBytes} bytes");
    }
}
