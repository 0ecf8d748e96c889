using GuestMemory.Balloon;
using GuestMemory.Gmm;

namespace GuestMemory.Qemu;

/// <summary>
/// A QEMU guest as the balloon controller sees it (<see cref="IBalloonGuest"/>): its limits and shares from
/// its <see cref="QemuBalloonPolicy"/>, its host pages from its memfd's resident pages (or its QEMU's RSS
/// with anonymous RAM), and its driver while that works.
/// </summary>
/// <remarks>Immutable apart from what it reads live (the memfd, the driver's state); any thread.</remarks>
public sealed class QemuBalloonGuest : IBalloonGuest
{
    /// <summary>The guest as <paramref name="driver"/>'s guest, under <paramref name="policy"/>.</summary>
    /// <exception cref="QemuException"><see cref="QemuError.InvalidArgument"/> for a policy that does not fit the guest.</exception>
    public QemuBalloonGuest(QemuBalloonDriver driver, QemuBalloonPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(driver);
        ArgumentNullException.ThrowIfNull(policy);
        long ram = driver.Guest.Options.RamBytes;
        policy.Validate(ram);
        QemuDriver = driver;
        Policy = policy;
        RamPages = ram >> Paging.PageShift;
        MinimumTargetPages = RamPages - ((policy.MaximumRamBytes ?? ram) >> Paging.PageShift);
        MaximumTargetPages = RamPages - (policy.MinimumRamBytes >> Paging.PageShift);
    }

    /// <summary>The QEMU guest.</summary>
    public QemuGuest Qemu => QemuDriver.Guest;

    /// <summary>Its balloon driver, whatever its state.</summary>
    public QemuBalloonDriver QemuDriver { get; }

    /// <summary>Its policy.</summary>
    public QemuBalloonPolicy Policy { get; }

    /// <inheritdoc/>
    public string Name => Qemu.Name;

    /// <inheritdoc/>
    public long RamPages { get; }

    /// <inheritdoc/>
    public long MinimumTargetPages { get; }

    /// <inheritdoc/>
    public long MaximumTargetPages { get; }

    /// <inheritdoc/>
    public int Weight => Policy.Weight;

    /// <inheritdoc/>
    public VmPriority Priority => Policy.Priority;

    /// <summary>Host bytes behind the guest's RAM: the memfd's resident bytes, or its QEMU's RSS with anonymous RAM (0 once it has ended).</summary>
    public long ResidentBytes => Qemu.Ram is GuestRam ram ? (ram.IsDisposed ? 0 : ram.ResidentBytes) : Qemu.QemuRssBytes ?? 0;

    /// <inheritdoc/>
    public long ResidentPages => ResidentBytes >> Paging.PageShift;

    /// <inheritdoc/>
    public IBalloonDriver? Driver => QemuDriver.State == QemuBalloonState.Working ? QemuDriver : null;
}
