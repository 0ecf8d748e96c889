using GuestMemory.Gmm;

namespace GuestMemory.Balloon;

/// <summary>
/// A guest whose RAM the Gmm does not hold, as the balloon controller sees it: a real VM in another
/// process (a QEMU guest, see GuestMemory.Qemu), whose host pages are counted by the host (a memfd's
/// resident pages, a process's RSS) rather than by the Gmm. <see cref="GuestBalloonController"/> steers such
/// guests with the same policy (<see cref="BalloonController"/>'s idle tax, shares, minimum and maximum)
/// through the same driver contract (<see cref="IBalloonDriver"/>).
/// </summary>
/// <remarks>
/// <para><b>What a VM of the Gmm gets from the Gmm, a guest reports itself:</b> its size and limits,
/// and how many of its pages have a host page now (<see cref="ResidentPages"/>). The driver reports the
/// guest's balloon and its own view of its memory (<see cref="BalloonDriverStatus"/>), as for a VM of
/// the Gmm.</para>
/// <para><b>Threads.</b> Members are read by the controller's thread while the guest runs; each must
/// return at once (no waiting on the guest) and must not call back into the controller.</para>
/// </remarks>
public interface IBalloonGuest
{
    /// <summary>The guest's name, for logs and decisions.</summary>
    string Name { get; }

    /// <summary>Guest RAM in pages (its configured size, balloon included).</summary>
    long RamPages { get; }

    /// <summary>The smallest balloon allowed, in pages: RAM less the most the guest may have.</summary>
    long MinimumTargetPages { get; }

    /// <summary>The largest balloon allowed, in pages: RAM less the least the guest must keep (its minimum).</summary>
    long MaximumTargetPages { get; }

    /// <summary>The guest's memory weight (as <see cref="VmOptions.Weight"/>).</summary>
    int Weight { get; }

    /// <summary>The guest's priority (as a VM's account priority): low : normal : high shares 1 : 2 : 4.</summary>
    VmPriority Priority { get; }

    /// <summary>Pages of guest RAM that have a host page now (what the guest costs the host).</summary>
    long ResidentPages { get; }

    /// <summary>
    /// The guest's balloon driver while it has a working one, else null (none loaded, its channel gone,
    /// the guest ended): the controller then leaves the guest alone and counts its memory as a fixed
    /// allocation that may grow to all its RAM.
    /// </summary>
    IBalloonDriver? Driver { get; }
}
