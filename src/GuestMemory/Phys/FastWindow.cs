using System.Runtime.CompilerServices;
using GuestMemory.Host;

namespace GuestMemory.Phys;

/// <summary>
/// The lock-free fast path over the RAM range at guest address 0: its pinned entry array, its page count
/// and the host base. Accesses inside one page whose entry has a host page (or, for writes, is Allocated
/// RAM) touch only these three values, the entry and the data; everything else returns false and takes
/// the checked slow path.
/// </summary>
/// <remarks>
/// Built per access from the VM's fields (<see cref="GuestPhysicalMemory.Fast"/>; the page count is 0 once
/// the VM is destroyed), also by a <see cref="GuestMemoryAccessor"/>: reloading three fields from one cache
/// line measured no slower than keeping them in the accessor, and nothing goes stale. Each access is its
/// own epoch section (<see cref="IAccessSection"/>): the host page an entry names is not reused before
/// the section ends. <see cref="TryReadUInt64"/> exits the section on its own branch when it misses, so
/// the random-read loop keeps no flag for the return.
/// </remarks>
internal readonly unsafe struct FastWindow(ulong* entries, ulong pages, byte* hostBase)
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryRead<TSection>(ulong address, Span<byte> destination, TSection section) where TSection : struct, IAccessSection
    {
        ulong frame = address >> Paging.PageShift;
        if (frame >= pages || (address & Paging.PageOffsetMask) + (ulong)destination.Length > Paging.PageSize) return false;
        section.Enter();
        ulong e = Volatile.Read(ref entries[frame]);
        bool hit = GuestPage.HasHostPage(e);
        if (hit) new ReadOnlySpan<byte>(HostByte(e, address), destination.Length).CopyTo(destination);
        section.Exit();
        return hit;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryWrite<TSection>(ulong address, ReadOnlySpan<byte> source, TSection section) where TSection : struct, IAccessSection
    {
        ulong frame = address >> Paging.PageShift;
        if (frame >= pages || (address & Paging.PageOffsetMask) + (ulong)source.Length > Paging.PageSize) return false;
        section.Enter();
        ulong e = Volatile.Read(ref entries[frame]);
        bool hit = GuestPage.IsDirectlyWritable(e);
        if (hit) source.CopyTo(new Span<byte>(HostByte(e, address), source.Length));
        section.Exit();
        return hit;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryReadUInt64<TSection>(ulong address, TSection section, out ulong value) where TSection : struct, IAccessSection
    {
        ulong frame = address >> Paging.PageShift;
        value = 0;
        if (frame >= pages || (address & Paging.PageOffsetMask) > Paging.PageSize - sizeof(ulong)) return false;
        section.Enter();
        ulong e = Volatile.Read(ref entries[frame]);
        if (!GuestPage.HasHostPage(e))
        {
            section.Exit();
            return false;
        }
        value = Unsafe.ReadUnaligned<ulong>(HostByte(e, address));
        section.Exit();
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryWriteUInt64<TSection>(ulong address, ulong value, TSection section) where TSection : struct, IAccessSection
    {
        ulong frame = address >> Paging.PageShift;
        if (frame >= pages || (address & Paging.PageOffsetMask) > Paging.PageSize - sizeof(ulong)) return false;
        section.Enter();
        ulong e = Volatile.Read(ref entries[frame]);
        bool hit = GuestPage.IsDirectlyWritable(e);
        if (hit) Unsafe.WriteUnaligned(HostByte(e, address), value);
        section.Exit();
        return hit;
    }

    /// <summary>Host address of the byte at guest <paramref name="address"/> in the page the entry names.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private byte* HostByte(ulong entry, ulong address) =>
        hostBase + ((nint)(uint)entry << Paging.PageShift) + (nint)(address & Paging.PageOffsetMask);
}

/// <summary>How a fast path opens and closes its access section (a struct, so calls are specialised away).</summary>
internal interface IAccessSection
{
    void Enter();
    void Exit();
}

/// <summary>The calling thread's own slot; sections may nest.</summary>
/// <remarks>
/// The slot is looked up (a thread-static read, on Linux a call into the runtime's TLS resolver) when the
/// section is made, which the caller does before it loads the fast window: nothing of the window then has
/// to survive that call in a stack slot. Measured side by side (21 alternating runs, medians): random
/// 8-byte reads 56 -> 41 ns, 4 KiB reads 429 -> 394 ns, against the window loaded first.
/// </remarks>
internal struct ThreadSection(AccessEpoch.Slot slot) : IAccessSection
{
    private AccessEpoch.Section _section;

    /// <summary>A section on the calling thread's slot (looked up now).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ThreadSection Current() => new(AccessEpoch.ThreadSlot);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Enter() => _section = AccessEpoch.Enter(slot);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void Exit() => _section.Exit();
}

/// <summary>A slot private to one accessor, never inside a section when a call starts: no nesting bookkeeping.</summary>
internal readonly struct OwnedSection(AccessEpoch.Slot slot) : IAccessSection
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Enter() => AccessEpoch.EnterOwned(slot);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Exit() => AccessEpoch.ExitOwned(slot);
}
