using System.Runtime.CompilerServices;
using GuestMemory.Host;

namespace GuestMemory.Phys;

public sealed unsafe partial class GuestPhysicalMemory
{
    /// <summary>
    /// Reads guest-physical memory at <paramref name="address"/> into <paramref name="destination"/>,
    /// across page and range boundaries. Zero and ballooned pages read as zeros and allocate nothing;
    /// MMIO goes to its handler.
    /// </summary>
    /// <exception cref="GmmException"><see cref="GmmError.AddressNotMapped"/> when any byte lies outside the ranges (nothing is read);
    /// <see cref="GmmError.VmDestroyed"/> after destroy.</exception>
    public void Read(ulong address, Span<byte> destination)
    {
        if (!TryReadFast(address, destination, new ThreadSection())) ReadSlow(address, destination);
    }

    /// <summary>
    /// Writes <paramref name="source"/> to guest-physical memory at <paramref name="address"/>, across page
    /// and range boundaries. A zero page gets a host page of its own, a shared page is copied first, a
    /// monitored page becomes Allocated, ROM follows its range's <see cref="RomWriteMode"/>, MMIO goes to
    /// its handler.
    /// </summary>
    /// <exception cref="GmmException"><see cref="GmmError.AddressNotMapped"/>, <see cref="GmmError.PageBallooned"/>,
    /// or an allocation limit (<see cref="GmmError.HitVmAccountLimit"/>, <see cref="GmmError.HitGlobalLimit"/>):
    /// in each case nothing was written. <see cref="GmmError.VmDestroyed"/> after destroy.</exception>
    public void Write(ulong address, ReadOnlySpan<byte> source)
    {
        if (!TryWriteFast(address, source, new ThreadSection())) WriteSlow(address, source);
    }

    /// <summary>Reads 8 bytes (little-endian, any alignment). Same rules and errors as <see cref="Read"/>.</summary>
    public ulong ReadUInt64(ulong address) =>
        TryReadUInt64Fast(address, new ThreadSection(), out ulong value) ? value : ReadUInt64Slow(address);

    /// <summary>Writes 8 bytes (little-endian, any alignment). Same rules and errors as <see cref="Write"/>.</summary>
    public void WriteUInt64(ulong address, ulong value)
    {
        if (!TryWriteUInt64Fast(address, value, new ThreadSection())) WriteSlow(address, new ReadOnlySpan<byte>(&value, sizeof(ulong)));
    }

    /// <summary>
    /// Opens a vCPU's accessor: the same reads and writes, cheaper per call because it carries its own
    /// epoch slot instead of looking one up per access. It is a ref struct, so it stays on the thread that
    /// opened it; dispose it when the vCPU stops.
    /// </summary>
    public GuestMemoryAccessor OpenAccessor()
    {
        ThrowIfDestroyed();
        return new GuestMemoryAccessor(this, AccessEpoch.RentSlot());
    }

    // ---- fast paths: inside one page of the RAM range at 0, no lock, one access section ----
    // The page-count check also catches a destroyed VM (its count is 0): it then fails in the slow path.
    // Generic over how the section is opened, so each caller gets its own specialised copy: the thread's
    // own (nestable) slot for the plain API, an accessor's private slot for a vCPU.

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool TryReadFast<TSection>(ulong address, Span<byte> destination, TSection section) where TSection : struct, IAccessSection
    {
        ulong frame = address >> Paging.PageShift;
        if (frame >= _fastPages || (address & Paging.PageOffsetMask) + (ulong)destination.Length > Paging.PageSize) return false;
        section.Enter();
        ulong e = Volatile.Read(ref _fastEntries[frame]);
        bool hit = GuestPage.HasHostPage(e);
        if (hit) new ReadOnlySpan<byte>(HostByte(e, address), destination.Length).CopyTo(destination);
        section.Exit();
        return hit;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool TryWriteFast<TSection>(ulong address, ReadOnlySpan<byte> source, TSection section) where TSection : struct, IAccessSection
    {
        ulong frame = address >> Paging.PageShift;
        if (frame >= _fastPages || (address & Paging.PageOffsetMask) + (ulong)source.Length > Paging.PageSize) return false;
        section.Enter();
        ulong e = Volatile.Read(ref _fastEntries[frame]);
        bool hit = GuestPage.IsDirectlyWritable(e);
        if (hit) source.CopyTo(new Span<byte>(HostByte(e, address), source.Length));
        section.Exit();
        return hit;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool TryReadUInt64Fast<TSection>(ulong address, TSection section, out ulong value) where TSection : struct, IAccessSection
    {
        ulong frame = address >> Paging.PageShift;
        value = 0;
        if (frame >= _fastPages || (address & Paging.PageOffsetMask) > Paging.PageSize - sizeof(ulong)) return false;
        section.Enter();
        ulong e = Volatile.Read(ref _fastEntries[frame]);
        bool hit = GuestPage.HasHostPage(e);
        if (hit) value = Unsafe.ReadUnaligned<ulong>(HostByte(e, address));
        section.Exit();
        return hit;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool TryWriteUInt64Fast<TSection>(ulong address, ulong value, TSection section) where TSection : struct, IAccessSection
    {
        ulong frame = address >> Paging.PageShift;
        if (frame >= _fastPages || (address & Paging.PageOffsetMask) > Paging.PageSize - sizeof(ulong)) return false;
        section.Enter();
        ulong e = Volatile.Read(ref _fastEntries[frame]);
        bool hit = GuestPage.IsDirectlyWritable(e);
        if (hit) Unsafe.WriteUnaligned(HostByte(e, address), value);
        section.Exit();
        return hit;
    }

    /// <summary>Host address of the byte at guest <paramref name="address"/> in the page the entry names.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private byte* HostByte(ulong entry, ulong address) =>
        _hostBase + ((nint)(uint)entry << Paging.PageShift) + (nint)(address & Paging.PageOffsetMask);
}

/// <summary>How a fast path opens and closes its access section (a struct, so calls are specialised away).</summary>
internal interface IAccessSection
{
    void Enter();
    void Exit();
}

/// <summary>The calling thread's own slot; sections may nest.</summary>
internal struct ThreadSection : IAccessSection
{
    private AccessEpoch.Section _section;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Enter() => _section = AccessEpoch.Enter();

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
