using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using GuestMemory.Host;

namespace GuestMemory.Phys;

/// <summary>
/// One packed 8-byte entry per guest page (<see cref="GuestPage"/>), in anonymous memory the kernel
/// hands out lazily: a 4 KiB page of entries (2 MiB of guest RAM) costs RSS only once an entry in it is
/// written, and an entry never written reads 0, which is a RAM page on the zero page. So declaring a
/// huge VM, a migration peer's HELLO or a mostly untouched range, costs address space, not memory
/// (a managed array is zeroed by the runtime up front: 535 MiB of RSS for a 255 GiB HELLO).
/// </summary>
/// <remarks>
/// The memory never moves, so the lock-free fast path indexes it through <see cref="Pointer"/>. It is
/// unmapped by the finalizer, once nothing references the table: the range (and the VM) that owns it
/// outlives every access that could use the pointer, as a pinned array's would. Who may change which
/// entry is the owner's business (<see cref="GuestPhysicalMemory"/>: under the VM lock).
/// </remarks>
internal sealed unsafe class PageEntryTable
{
    private readonly ulong* _entries;
    private readonly nuint _bytes;

    /// <summary>The empty table (MMIO ranges).</summary>
    public static readonly PageEntryTable Empty = new(0);

    /// <summary>A table of <paramref name="length"/> entries, all 0.</summary>
    /// <exception cref="GmmException"><see cref="GmmError.HostOutOfMemory"/> when the address space cannot be had.</exception>
    public PageEntryTable(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Length = length;
        if (length == 0) return;
        _bytes = ((nuint)length * sizeof(ulong) + (nuint)Paging.PageOffsetMask) & ~(nuint)Paging.PageOffsetMask;
        nint mapping = LinuxNative.MapAnonymousNoReserve(_bytes);
        if (mapping == 0)
        {
            GC.SuppressFinalize(this);
            throw new GmmException(GmmError.HostOutOfMemory, $"cannot map {_bytes >> 20} MiB for the entries of {length} guest pages (errno {Marshal.GetLastPInvokeError()})");
        }
        _entries = (ulong*)mapping;
    }

    /// <summary>Entries in the table.</summary>
    public int Length { get; }

    /// <summary>The first entry's address (stable for the table's life).</summary>
    public ulong* Pointer => _entries;

    /// <summary>The entry of page <paramref name="index"/>, bounds-checked.</summary>
    public ref ulong this[int index]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            if ((uint)index >= (uint)Length) ThrowIndex(index);
            return ref _entries[index];
        }
    }

    /// <summary>The entry of page <paramref name="index"/> (an address offset shifted to a page number), bounds-checked.</summary>
    public ref ulong this[ulong index]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            if (index >= (ulong)Length) ThrowIndex((long)Math.Min(index, long.MaxValue));
            return ref _entries[index];
        }
    }

    /// <summary>All entries as a span (loops over it get their bounds checks removed).</summary>
    public Span<ulong> AsSpan() => new(_entries, Length);

    /// <summary>Lets <c>foreach</c> walk the entries.</summary>
    public Span<ulong>.Enumerator GetEnumerator() => AsSpan().GetEnumerator();

    [DoesNotReturn]
    private void ThrowIndex(long index) => throw new IndexOutOfRangeException($"entry {index} of a table of {Length}");

    ~PageEntryTable()
    {
        if (_entries != null) LinuxNative.Munmap((nint)_entries, _bytes);
    }
}
