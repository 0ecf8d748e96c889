namespace GuestMemory.Gmm;

/// <summary>The three states of a host page (seed: GMM_PAGE_STATE_*).</summary>
public enum HostPageState
{
    /// <summary>Not used by anyone; chained on its chunk's LIFO free list.</summary>
    Free = 0,
    /// <summary>Backs one page of one VM.</summary>
    Private = 1,
    /// <summary>Read-only, reference counted, used by one or more VMs copy-on-write.</summary>
    Shared = 2,
}

/// <summary>
/// The packed 64-bit state word of one host page (seed: GMMPAGE). Layout:
/// <code>
/// bits 63..62  state (Free 0, Private 1, Shared 2)
/// Private:  57..56 account · 55..40 VM handle · 39..0 guest frame (all ones = none yet)
///           bit 58 is a scratch mark used only while a batch free is being validated
/// Shared:   61..32 reference count · 31..0 content checksum
/// Free:     11 discarded (its memory went back to the host) · 10 zeroed flag · 9..0 next free index (0x3FF = end of list)
/// </code>
/// </summary>
internal static class PageWord
{
    public const ulong NilGuestFrame = (1UL << 40) - 1;
    public const int NilIndex = 0x3FF;
    public const uint MaxReferences = (1u << 30) - 1;
    private const int StateShift = 62;
    private const ulong MarkBit = 1UL << 58;

    public static HostPageState State(ulong word) => (HostPageState)(word >> StateShift);

    public static ulong Private(ushort vm, GmmAccount account, ulong guestFrame) =>
        (1UL << StateShift) | ((ulong)account << 56) | ((ulong)vm << 40) | (guestFrame & NilGuestFrame);
    public static ushort Vm(ulong word) => (ushort)(word >> 40);
    public static GmmAccount Account(ulong word) => (GmmAccount)((word >> 56) & 3);
    public static ulong GuestFrame(ulong word) => word & NilGuestFrame;
    public static ulong WithGuestFrame(ulong word, ulong frame) => (word & ~NilGuestFrame) | (frame & NilGuestFrame);
    public static bool IsMarked(ulong word) => (word & MarkBit) != 0;
    public static ulong Mark(ulong word) => word | MarkBit;
    public static ulong Unmark(ulong word) => word & ~MarkBit;

    public static ulong Shared(uint references, uint checksum) => (2UL << StateShift) | ((ulong)references << 32) | checksum;
    public static uint References(ulong word) => (uint)(word >> 32) & MaxReferences;
    public static uint Checksum(ulong word) => (uint)word;

    public static ulong Free(int next, bool zeroed) => (ulong)(uint)(next & NilIndex) | (zeroed ? 1UL << 10 : 0UL);
    /// <summary>A discarded page reads as zero: the host gives a fresh zero page on the next touch.</summary>
    public static ulong Discarded(ulong freeWord) => freeWord | (1UL << 10) | (1UL << 11);
    public static bool IsDiscarded(ulong word) => (word & (1UL << 11)) != 0;
    public static int NextFree(ulong word) => (int)(word & NilIndex);
    public static bool IsZeroed(ulong word) => (word & (1UL << 10)) != 0;
}
