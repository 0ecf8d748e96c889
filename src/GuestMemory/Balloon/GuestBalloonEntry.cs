using System.Diagnostics;

namespace GuestMemory.Balloon;

/// <summary>
/// What a <see cref="GuestBalloonController"/> keeps per guest: the target it set, the driver it listens
/// to, and the settling clock (as <see cref="VmBalloon"/> keeps them for a VM of the Gmm).
/// </summary>
/// <remarks>Every field is guarded by the controller's <c>_lock</c>; nothing here locks or calls out.</remarks>
internal sealed class GuestBalloonEntry(IBalloonGuest guest, long target)
{
    public IBalloonGuest Guest { get; } = guest;

    /// <summary>The balloon size the controller asks for, in pages.</summary>
    public long Target { get; set; } = target;

    /// <summary>The driver whose <see cref="IBalloonDriver.StatusChanged"/> the controller listens to, or null.</summary>
    public IBalloonDriver? Subscribed { get; set; }

    /// <summary>The handler given to <see cref="Subscribed"/> (kept to unsubscribe it).</summary>
    public Action? Handler { get; set; }

    /// <summary>Whether the last step found a driver (a change is logged once).</summary>
    public bool HadDriver { get; set; } = true;

    /// <summary>Pages in the balloon when the previous step looked (for the reclaimed count).</summary>
    public long LastBallooned { get; set; } = -1;

    /// <summary>The pages the guest wanted when it last reported (a rise wakes the controller).</summary>
    public long LastWanted { get; set; }

    /// <summary>How many times the balloon reached its target after waiting for it.</summary>
    public long SettledTargets { get; private set; }

    private long _unsettledSince;

    /// <summary>
    /// Starts or stops the settling clock for <paramref name="ballooned"/> pages in the balloon now; returns
    /// how long the balloon was away from its target when it has just reached it. The clock starts when the
    /// balloon leaves its target and further target changes do not restart it, so the wait is the guest's
    /// whole wait.
    /// </summary>
    public TimeSpan? Track(long ballooned)
    {
        if (ballooned != Target)
        {
            if (_unsettledSince == 0) _unsettledSince = Stopwatch.GetTimestamp();
            return null;
        }
        if (_unsettledSince == 0) return null;
        TimeSpan waited = Stopwatch.GetElapsedTime(_unsettledSince);
        _unsettledSince = 0;
        SettledTargets++;
        return waited;
    }

    /// <summary>True while the balloon holds its target (as last reported).</summary>
    public bool IsSettled => _unsettledSince == 0;
}
