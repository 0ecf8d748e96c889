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
        ThreadSection section = ThreadSection.Current(); // first: see ThreadSection
        if (!Fast().TryRead(address, destination, section)) ReadSlow(address, destination);
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
        ThreadSection section = ThreadSection.Current();
        if (!Fast().TryWrite(address, source, section)) WriteSlow(address, source);
    }

    /// <summary>Reads 8 bytes (little-endian, any alignment). Same rules and errors as <see cref="Read"/>.</summary>
    public ulong ReadUInt64(ulong address)
    {
        ThreadSection section = ThreadSection.Current();
        return Fast().TryReadUInt64(address, section, out ulong value) ? value : ReadUInt64Slow(address);
    }

    /// <summary>Writes 8 bytes (little-endian, any alignment). Same rules and errors as <see cref="Write"/>.</summary>
    public void WriteUInt64(ulong address, ulong value)
    {
        ThreadSection section = ThreadSection.Current();
        if (!Fast().TryWriteUInt64(address, value, section)) WriteSlow(address, new ReadOnlySpan<byte>(&value, sizeof(ulong)));
    }

    /// <summary>
    /// Opens a vCPU's accessor: the same reads and writes, cheaper per call because it carries its own
    /// epoch slot instead of looking one up per access. It is a ref struct, so it stays on the thread that
    /// opened it; dispose it when the vCPU stops.
    /// </summary>
    /// <remarks>Inlined so the JIT sees the new accessor's fields and keeps them in registers in the caller's loop.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public GuestMemoryAccessor OpenAccessor()
    {
        ThrowIfDestroyed();
        return new GuestMemoryAccessor(this, AccessEpoch.RentSlot());
    }

    /// <summary>
    /// The fast path's view as of now (see <see cref="FastWindow"/>). The page count is read first, with
    /// acquire: registration stores the entry pointer before it publishes the count.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal FastWindow Fast()
    {
        ulong pages = Volatile.Read(ref _fastPages);
        return new FastWindow(_fastEntries, pages, _hostBase);
    }
}
