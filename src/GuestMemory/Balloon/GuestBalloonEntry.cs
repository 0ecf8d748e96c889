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

    /// <summary>The balloon size the controller asks for, in pages; setting a new one restarts the target's clock.</summary>
    public long Target
    {
        get => _target;
        set
        {
            if (value != _target) _targetSetAt = Stopwatch.GetTimestamp();
            _target = value;
        }
    }

    private long _target = target;
    private long _targetSetAt = Stopwatch.GetTimestamp();

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
    /// Notes whether the balloon (<paramref name="ballooned"/> pages now) holds its target; when it has just
    /// reached it, returns how long ago that target was set. Unlike <see cref="VmBalloon"/>'s clock, which
    /// runs from the moment the balloon left its target, this one restarts with every new target: a real
    /// guest's balloon chases a target the controller moves a batch at a time while a workload grows, and
    /// what a host wants to know is how quickly the guest follows a target, not how long the chase lasted. A
    /// target replaced before it is reached is not reported.
    /// </summary>
    public TimeSpan? Track(long ballooned)
    {
        if (ballooned != Target)
        {
            if (_unsettledSince == 0) _unsettledSince = Stopwatch.GetTimestamp();
            return null;
        }
        if (_unsettledSince == 0) return null;
        TimeSpan waited = Stopwatch.GetElapsedTime(_targetSetAt);
        _unsettledSince = 0;
        SettledTargets++;
        return waited;
    }

    /// <summary>True while the balloon holds its target (as last reported).</summary>
    public bool IsSettled => _unsettledSince == 0;
}
