using GuestMemory.Phys;

namespace GuestMemory.Balloon;

/// <summary>
/// The guest side of a VM's memory balloon: the part a guest, or the emulator that runs it, implements
/// (the guest additions' role in VirtualBox, virtio-balloon's in Linux). The host posts a target with
/// <see cref="SetTarget"/>; the driver works towards it on the guest's own time, in batches: it inflates
/// by choosing pages the guest does not use and handing them to
/// <see cref="GuestPhysicalMemory.InflateBalloon"/>, and deflates with
/// <see cref="GuestPhysicalMemory.DeflateBalloon"/>, telling the guest it has those pages again.
/// </summary>
/// <remarks>
/// <para><b>Honesty.</b> A driver never balloons a page its guest uses: a target the guest cannot reach
/// stays unreached (the host sees it in <see cref="Status"/> and in the Gmm's requested-versus-ballooned
/// figures). When its workload grows and its free pages run out, the guest does not deflate on its own:
/// it says how many pages it wants (<see cref="BalloonDriverStatus.WantedPages"/>) and the host decides,
/// because only the host knows whether the memory exists.</para>
/// <para><b>Threads.</b> <see cref="SetTarget"/> and <see cref="Status"/> are called by host threads
/// (the balloon controller) while the guest runs; both must return at once and must not call back
/// into the host. <see cref="StatusChanged"/> is raised on the guest's thread, holding no lock.</para>
/// </remarks>
public interface IBalloonDriver
{
    /// <summary>
    /// Host to guest: the balloon size the host wants, in pages. Only posts the request (the VMMDev
    /// event of the seed's guest additions); the driver inflates or deflates towards it later.
    /// </summary>
    void SetTarget(long pages);

    /// <summary>Guest to host: the guest's balloon and memory figures now.</summary>
    BalloonDriverStatus Status { get; }

    /// <summary>
    /// Guest to host: raised after a batch changed the balloon and whenever the pages the guest wants
    /// change, so the host need not poll to see progress or demand. Handlers must be quick.
    /// </summary>
    event Action? StatusChanged;
}

/// <summary>What a guest reports about its balloon and its memory, in pages.</summary>
/// <param name="BalloonedPages">Pages in the balloon now.</param>
/// <param name="FreePages">Pages the guest neither uses nor has ballooned: what it could balloon next.</param>
/// <param name="UsedPages">Pages the guest's workload uses: never ballooned.</param>
/// <param name="NeededPages">
/// Pages the workload uses or is about to grow into (at least <paramref name="UsedPages"/>; Hyper-V's
/// "memory demand"): free pages it is growing into are not idle, and what it needs beyond its free
/// pages it asks back (<see cref="WantedPages"/>).
/// </param>
public readonly record struct BalloonDriverStatus(long BalloonedPages, long FreePages, long UsedPages, long NeededPages)
{
    /// <summary>Pages the workload needs beyond its used and free pages: the guest asks the host for them.</summary>
    public long WantedPages => Math.Max(0, NeededPages - UsedPages - FreePages);
}
