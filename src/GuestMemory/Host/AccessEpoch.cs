using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace GuestMemory.Host;

/// <summary>
/// Epoch-based reclamation for host pages: the user-space analogue of the seed's "flush shadow page
/// tables". A thread that is about to use a host pointer it derived from a guest page entry announces
/// the current epoch (<see cref="Enter()"/>) and withdraws it when done (<see cref="Section.Exit"/>). A page whose
/// entry was changed away from it is retired with the epoch of that moment; it may be reused once every
/// announced epoch is newer (<see cref="SafeBefore"/>). Process-wide: it is about threads and memory,
/// not about one manager.
/// </summary>
/// <remarks>
/// <para><b>Cost on the access path.</b> Entering is one thread-static load and two plain stores, with no
/// fence. The ordering that a fence would give ("my announcement is visible before I read the entry")
/// is forced from the other side instead: <see cref="SafeBefore"/> runs a process-wide barrier
/// (<see cref="Interlocked.MemoryBarrierProcessWide"/>, membarrier on Linux) after changing entries
/// and before reading the announcements. Either a reader's announcement is seen, or its entry read
/// happens after the barrier and sees the new entry. Reclaiming is batched, so the barrier is rare.</para>
/// <para><b>Rules.</b> Sections are short (one copy) and may nest. Never wait for readers while inside
/// a section (you would wait for yourself) or while holding a lock that a reader may take inside its
/// section (a VM's lock): <see cref="WaitForReaders"/> checks the first rule.</para>
/// </remarks>
public static class AccessEpoch
{
    private static long s_current = 1;
    private static Slot[] s_slots = [];
    private static readonly Lock s_registry = new();

    [ThreadStatic] private static Slot? t_slot;
    [ThreadStatic] private static SlotOwner? t_owner;

    /// <summary>The epoch a page retired now is tagged with.</summary>
    public static long Current => Volatile.Read(ref s_current);

    /// <summary>This thread's own slot (registered on first use).</summary>
    public static Slot ThreadSlot
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => t_slot ?? Register();
    }

    /// <summary>True while this thread is inside a section.</summary>
    public static bool IsInside => t_slot is { Active: not 0 };

    /// <summary>
    /// Announces that this thread may now use host pointers read from guest page entries. Sections nest:
    /// an inner one keeps the outer (older) epoch. End it with <see cref="Section.Exit"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Section Enter() => Enter(ThreadSlot);

    /// <summary>
    /// Same as <see cref="Enter()"/> with a slot the caller owns (see <see cref="RentSlot"/>): no
    /// thread-static lookup, for a vCPU loop that makes millions of accesses.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Section Enter(Slot slot)
    {
        long previous = slot.Active;
        Volatile.Write(ref slot.Active, previous == 0 ? Volatile.Read(ref s_current) : previous);
        return new Section(slot, previous);
    }

    /// <summary>
    /// Opens a section on a slot that cannot be inside one already (a rented slot used by one call at a
    /// time): no nesting bookkeeping, one load and one store. Close it with <see cref="ExitOwned"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void EnterOwned(Slot slot) => Volatile.Write(ref slot.Active, Volatile.Read(ref s_current));

    /// <summary>Closes a section opened with <see cref="EnterOwned"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ExitOwned(Slot slot) => Volatile.Write(ref slot.Active, 0);

    /// <summary>
    /// A slot of one's own, for a context that is used by one thread at a time (a vCPU accessor).
    /// Give it back with <see cref="ReturnSlot"/> outside any section.
    /// </summary>
    public static Slot RentSlot()
    {
        lock (s_registry) return TakeFreeSlot();
    }

    /// <summary>Returns a rented slot; it must not be inside a section.</summary>
    public static void ReturnSlot(Slot slot)
    {
        if (Volatile.Read(ref slot.Active) != 0) throw new InvalidOperationException("a slot is returned while inside an access section");
        Volatile.Write(ref slot.InUse, 0);
    }

    /// <summary>An open access section; <see cref="Exit"/> ends it (restoring an outer one).</summary>
    public readonly struct Section
    {
        private readonly Slot _slot;
        private readonly long _previous;

        internal Section(Slot slot, long previous)
        {
            _slot = slot;
            _previous = previous;
        }

        /// <summary>Withdraws the announcement made by the matching <see cref="Enter()"/>.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Exit() => Volatile.Write(ref _slot.Active, _previous);
    }

    /// <summary>
    /// Starts a new epoch, forces every running thread's announcement to be visible, and returns the
    /// oldest epoch still announced: pages retired with a tag below it are safe to reuse.
    /// </summary>
    public static long SafeBefore()
    {
        long newest = Interlocked.Increment(ref s_current);
        Interlocked.MemoryBarrierProcessWide();
        return OldestAnnounced(newest);
    }

    /// <summary>Blocks until every section that began at or before <paramref name="tag"/> has ended.</summary>
    /// <remarks>
    /// One barrier is enough: after it every older announcement is visible, and sections that begin later
    /// announce newer epochs. From then on it only watches the old ones end (plain reads; a late view of a
    /// slot only makes the wait a little longer), so a long wait does not interrupt every CPU again and again.
    /// </remarks>
    public static void WaitForReaders(long tag)
    {
        if (IsInside) throw new InvalidOperationException("a thread inside an access section cannot wait for readers (it would wait for itself)");
        LockOrder.AssertNoneHeldFrom(LockRank.Vm, "waiting for readers");
        if (SafeBefore() > tag) return;
        long ceiling = Current;
        var spin = new SpinWait();
        while (OldestAnnounced(ceiling) <= tag) spin.SpinOnce();
    }

    /// <summary>The oldest epoch any slot announces, or <paramref name="ceiling"/> when none is older.</summary>
    private static long OldestAnnounced(long ceiling)
    {
        long oldest = ceiling;
        foreach (Slot slot in Volatile.Read(ref s_slots))
        {
            long active = Volatile.Read(ref slot.Active);
            if (active != 0 && active < oldest) oldest = active;
        }
        return oldest;
    }

    private static Slot Register()
    {
        lock (s_registry)
        {
            Slot slot = TakeFreeSlot();
            t_slot = slot;
            t_owner = new SlotOwner(slot);
            return slot;
        }
    }

    private static Slot TakeFreeSlot()
    {
        Slot? slot = Array.Find(s_slots, s => s.InUse == 0);
        if (slot == null)
        {
            slot = new Slot();
            Volatile.Write(ref s_slots, [.. s_slots, slot]);
        }
        slot.InUse = 1;
        return slot;
    }

    /// <summary>One thread's announcement, padded to its own cache lines so threads do not share one.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 128)]
    public sealed class Slot
    {
        /// <summary>The epoch announced, or 0 outside any section. Read by reclaimers.</summary>
        [FieldOffset(64)] internal long Active;
        /// <summary>1 while a live thread owns the slot.</summary>
        [FieldOffset(72)] internal int InUse;
    }

    /// <summary>Lives in the owning thread's statics; when the thread dies it is collected and frees the slot.</summary>
    private sealed class SlotOwner(Slot slot)
    {
        ~SlotOwner()
        {
            Volatile.Write(ref slot.Active, 0);
            Volatile.Write(ref slot.InUse, 0);
        }
    }
}
