using GuestMemory.Gmm;

namespace GuestMemory.Phys;

/// <summary>The state of one guest page (seed: PGM_PAGE_STATE_*).</summary>
public enum GuestPageState
{
    /// <summary>Backed by the zero page: reads return zeros and nothing is allocated.</summary>
    Zero = 0,
    /// <summary>Backed by a private host page that the guest may write directly.</summary>
    Allocated = 1,
    /// <summary>Backed by a private host page; the next write is noticed (and makes it Allocated).</summary>
    WriteMonitored = 2,
    /// <summary>Backed by a read-only shared host page; a write copies it first (copy-on-write).</summary>
    Shared = 3,
    /// <summary>Given to the balloon: no host page; reads return zeros, writes are refused.</summary>
    Ballooned = 4,
}

/// <summary>What a guest page is.</summary>
public enum GuestPageType
{
    /// <summary>Guest RAM.</summary>
    Ram = 0,
    /// <summary>ROM, filled from an image.</summary>
    Rom = 1,
    /// <summary>Memory-mapped I/O: accesses go to a handler.</summary>
    Mmio = 2,
}

/// <summary>
/// The packed 8-byte entry of one guest page (seed: PGMPAGE, which spends 16 bytes). Layout:
/// <code>
/// 31..0   host page id (0 when the state has no host page)
/// 34..32  state            35 written-to (since monitoring was armed)   36 dirty (since the last save pass)
/// 44..37  read-mapping count     52..45 write-mapping count
/// 56..53  volatility: a page that keeps changing is scanned only every 2^n passes
/// 58..57  type           59 moving (armed by the compactor; every write clears it)
/// </code>
/// Entries change only under the VM's lock; lock-free readers load them with <see cref="Volatile"/>.
/// </summary>
internal static class GuestPage
{
    public const int MaxMappings = 255;
    public const int MaxVolatility = 15;
    private const ulong PageMask = 0xFFFF_FFFF;
    private const int StateShift = 32;
    private const ulong StateMask = 7UL << StateShift;
    public const ulong WrittenToFlag = 1UL << 35;
    public const ulong DirtyFlag = 1UL << 36;
    /// <summary>
    /// Set only by the compactor's arming and cleared by every write, so an entry that still carries it
    /// has not been written since that arming, even if a write and another layer's re-arming (fusion,
    /// live save) made it look the same again: the move's compare-and-replace cannot copy stale bytes.
    /// </summary>
    public const ulong MovingFlag = 1UL << 59;

    /// <summary>
    /// Not an entry: in a staged image (a mirror's incremental checkpoint), "keep the VM's entry for this
    /// page". Its type bits (3) are no type, so no real entry equals it; its state is Zero, so every state
    /// test (<see cref="HasHostPage"/> included) reads it as naming no host page.
    /// </summary>
    public const ulong Unchanged = (3UL << TypeShift) | PageMask;
    private const int ReadLockShift = 37, WriteLockShift = 45, VolatilityShift = 53, TypeShift = 57;

    public static ulong Make(GuestPageType type, GuestPageState state, PageId page) =>
        ((ulong)type << TypeShift) | ((ulong)state << StateShift) | page.Value;

    public static GuestPageState State(ulong e) => (GuestPageState)((e >> StateShift) & 7);
    public static GuestPageType Type(ulong e) => (GuestPageType)((e >> TypeShift) & 3);
    public static PageId Page(ulong e) => new((uint)(e & PageMask));
    public static int ReadLocks(ulong e) => (int)((e >> ReadLockShift) & 0xFF);
    public static int WriteLocks(ulong e) => (int)((e >> WriteLockShift) & 0xFF);
    public static bool IsLocked(ulong e) => ((e >> ReadLockShift) & 0xFFFF) != 0;
    public static bool IsWrittenTo(ulong e) => (e & WrittenToFlag) != 0;
    public static bool IsDirty(ulong e) => (e & DirtyFlag) != 0;
    public static int Volatility(ulong e) => (int)((e >> VolatilityShift) & 0xF);

    public static ulong WithState(ulong e, GuestPageState state, PageId page) =>
        (e & ~(StateMask | PageMask)) | ((ulong)state << StateShift) | page.Value;
    public static ulong WithState(ulong e, GuestPageState state) => (e & ~StateMask) | ((ulong)state << StateShift);
    public static ulong AddReadLock(ulong e, int delta) => (ulong)((long)e + ((long)delta << ReadLockShift));
    public static ulong AddWriteLock(ulong e, int delta) => (ulong)((long)e + ((long)delta << WriteLockShift));
    public static ulong WithVolatility(ulong e, int v) =>
        (e & ~(0xFUL << VolatilityShift)) | ((ulong)Math.Clamp(v, 0, MaxVolatility) << VolatilityShift);

    /// <summary>True when the entry's host page can be read directly (also the zero page does, separately).</summary>
    /// <remarks>
    /// One bit test: of the states 0 to 4, exactly Allocated, WriteMonitored and Shared have a bit among the
    /// low two (no word in use has another state, <see cref="Unchanged"/> included). It sits on the
    /// lock-free read path, where a range compare of the state measured about 3 ns more per random read
    /// (docs/benchmarks.md).
    /// </remarks>
    public static bool HasHostPage(ulong e) => (e & HostPageStates) != 0;

    private const ulong HostPageStates = 3UL << StateShift;

    /// <summary>
    /// The one test on the lock-free write path: state Allocated and type RAM (ROM writes and every
    /// other state take the slow path). Compares the type and state bits in one go.
    /// </summary>
    public static bool IsDirectlyWritable(ulong e) =>
        (e & ((3UL << TypeShift) | StateMask)) == ((ulong)GuestPageState.Allocated << StateShift);
}
