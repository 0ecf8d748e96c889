using System.Diagnostics;

namespace GuestMemory.Host;

/// <summary>
/// The ranks of GuestMemory's locks, in the only order a thread may take them: a thread that holds a
/// lock may take another only of a higher rank (or the same lock again). DESIGN.md's order
/// "VM -> deferred frees -> Gmm" is the middle of this list.
/// </summary>
internal enum LockRank
{
    /// <summary>The manager's VM list (<see cref="GlobalMemoryManager"/>): create, destroy, dispose.</summary>
    Manager = 1,
    /// <summary>Delivering a balloon target to a guest driver, one target at a time per VM.</summary>
    BalloonDelivery = 2,
    /// <summary>A VM's balloon state (<see cref="Balloon.VmBalloon"/>).</summary>
    Balloon = 3,
    /// <summary>A VM's lock (<see cref="Requests.VmLock"/>): its page entries, handy pages, ranges.</summary>
    Vm = 4,
    /// <summary>The pages waiting for readers (<see cref="Phys.DeferredFrees"/>).</summary>
    DeferredFrees = 5,
    /// <summary>The Gmm (<see cref="Gmm.PageManager"/>): chunks, page words, accounts. Nothing is taken under it.</summary>
    Gmm = 6,
    /// <summary>A <see cref="Balloon.GuestBalloonController"/>'s state (guests, targets, counters). Nothing is taken under it.</summary>
    GuestBalloon = 7,
}

/// <summary>
/// Checks the lock order in debug builds (the test suite runs them): every ranked lock reports entering
/// and leaving, and taking a lock while a later-ranked one is held throws
/// <see cref="LockOrderViolationException"/> at once, naming both, instead of deadlocking one run in a
/// hundred. It also catches the subtle case DESIGN.md warns of: an exception filter that takes a lock
/// runs before the thrower's <c>finally</c> has released its own. Release builds compile every call away.
/// </summary>
/// <remarks>
/// Per thread (a thread-static stack of held locks), no lock of its own. Every violation is also kept in
/// <see cref="Violations"/>: an exception thrown inside an exception filter is swallowed (the filter just
/// reads false), so the tests look there too.
/// </remarks>
internal static class LockOrder
{
    [ThreadStatic] private static List<(LockRank Rank, object Lock)>? t_held;
    private static readonly System.Collections.Concurrent.ConcurrentQueue<string> s_violations = new();

    /// <summary>Every violation seen in this process (debug builds), with the stack that made it.</summary>
    public static IReadOnlyCollection<string> Violations => s_violations;

    /// <summary>Before taking <paramref name="lockObject"/> of <paramref name="rank"/>: throws if the order forbids it.</summary>
    [Conditional("DEBUG")]
    public static void Entering(LockRank rank, object lockObject)
    {
        List<(LockRank Rank, object Lock)> held = t_held ??= [];
        foreach ((LockRank r, object o) in held)
        {
            if (ReferenceEquals(o, lockObject)) break; // re-entering a lock this thread holds takes nothing new
            if (r > rank || (r == rank && !ReferenceEquals(o, lockObject)))
                Violate($"taking a {rank} lock while holding a {r} lock (order: {string.Join(" -> ", Enum.GetNames<LockRank>())}; one lock of each rank at a time)");
        }
        held.Add((rank, lockObject));
    }

    /// <summary>After releasing a lock taken with <see cref="Entering"/> (the innermost entry of it).</summary>
    [Conditional("DEBUG")]
    public static void Exited(object lockObject)
    {
        List<(LockRank Rank, object Lock)>? held = t_held;
        if (held == null) return;
        for (int i = held.Count - 1; i >= 0; i--)
        {
            if (!ReferenceEquals(held[i].Lock, lockObject)) continue;
            held.RemoveAt(i);
            return;
        }
    }

    /// <summary>Throws if this thread holds a lock of <paramref name="rank"/> or later (before a wait that such a holder would block).</summary>
    [Conditional("DEBUG")]
    public static void AssertNoneHeldFrom(LockRank rank, string what)
    {
        if (t_held is { } held)
            foreach ((LockRank r, _) in held)
                if (r >= rank) Violate($"{what} while holding a {r} lock");
    }

    private static void Violate(string message)
    {
        s_violations.Enqueue($"{message}{Environment.NewLine}{Environment.StackTrace}");
        throw new LockOrderViolationException(message);
    }
}

/// <summary>A lock taken against <see cref="LockOrder"/> (debug builds only): a bug in GuestMemory, never a usage error.</summary>
internal sealed class LockOrderViolationException(string message) : InvalidOperationException(message);

/// <summary>
/// A <see cref="Lock"/> with a <see cref="LockRank"/>: <c>using (x.EnterScope())</c> takes it and tells
/// <see cref="LockOrder"/>. Costs nothing more than the plain lock in release builds.
/// </summary>
internal sealed class RankedLock(LockRank rank)
{
    private readonly Lock _lock = new();

    public LockRank Rank => rank;

    public bool IsHeldByCurrentThread => _lock.IsHeldByCurrentThread;

    public Scope EnterScope()
    {
        LockOrder.Entering(rank, this);
        _lock.Enter();
        return new Scope(this);
    }

    public void Enter()
    {
        LockOrder.Entering(rank, this);
        _lock.Enter();
    }

    public bool TryEnter()
    {
        LockOrder.Entering(rank, this);
        if (_lock.TryEnter()) return true;
        LockOrder.Exited(this);
        return false;
    }

    public void Exit()
    {
        _lock.Exit();
        LockOrder.Exited(this);
    }

    /// <summary>Holding the lock until disposed.</summary>
    public readonly ref struct Scope(RankedLock owner)
    {
        public void Dispose() => owner.Exit();
    }
}
