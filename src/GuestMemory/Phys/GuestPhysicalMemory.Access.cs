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
        // Fast path: inside one page of the RAM range at 0, on a page that has a host page.
        ulong frame = address >> Paging.PageShift;
        if (frame < _fastPages && (address & Paging.PageOffsetMask) + (ulong)destination.Length <= Paging.PageSize)
        {
            AccessEpoch.Section section = AccessEpoch.Enter();
            ulong e = Volatile.Read(ref _fastEntries[frame]);
            if (GuestPage.HasHostPage(e))
            {
                new ReadOnlySpan<byte>(HostByte(e, address), destination.Length).CopyTo(destination);
                section.Exit();
                return;
            }
            section.Exit();
        }
        ReadSlow(address, destination);
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
        // Fast path: inside one page of the RAM range at 0, on an Allocated page.
        ulong frame = address >> Paging.PageShift;
        if (frame < _fastPages && (address & Paging.PageOffsetMask) + (ulong)source.Length <= Paging.PageSize)
        {
            AccessEpoch.Section section = AccessEpoch.Enter();
            ulong e = Volatile.Read(ref _fastEntries[frame]);
            if (GuestPage.IsDirectlyWritable(e))
            {
                source.CopyTo(new Span<byte>(HostByte(e, address), source.Length));
                section.Exit();
                return;
            }
            section.Exit();
        }
        WriteSlow(address, source);
    }

    /// <summary>
    /// Reads 8 bytes (little-endian, any alignment) at <paramref name="address"/>: the vCPU's common case,
    /// without a span. Same rules and errors as <see cref="Read"/>.
    /// </summary>
    public ulong ReadUInt64(ulong address)
    {
        ulong frame = address >> Paging.PageShift;
        if (frame < _fastPages && (address & Paging.PageOffsetMask) <= Paging.PageSize - sizeof(ulong))
        {
            AccessEpoch.Section section = AccessEpoch.Enter();
            ulong e = Volatile.Read(ref _fastEntries[frame]);
            if (GuestPage.HasHostPage(e))
            {
                ulong value = Unsafe.ReadUnaligned<ulong>(HostByte(e, address));
                section.Exit();
                return value;
            }
            section.Exit();
        }
        ulong slow = 0;
        ReadSlow(address, new Span<byte>(&slow, sizeof(ulong)));
        return slow;
    }

    /// <summary>Writes 8 bytes (little-endian, any alignment) at <paramref name="address"/>. Same rules and errors as <see cref="Write"/>.</summary>
    public void WriteUInt64(ulong address, ulong value)
    {
        ulong frame = address >> Paging.PageShift;
        if (frame < _fastPages && (address & Paging.PageOffsetMask) <= Paging.PageSize - sizeof(ulong))
        {
            AccessEpoch.Section section = AccessEpoch.Enter();
            ulong e = Volatile.Read(ref _fastEntries[frame]);
            if (GuestPage.IsDirectlyWritable(e))
            {
                Unsafe.WriteUnaligned(HostByte(e, address), value);
                section.Exit();
                return;
            }
            section.Exit();
        }
        WriteSlow(address, new ReadOnlySpan<byte>(&value, sizeof(ulong)));
    }

    /// <summary>Host address of the byte at guest <paramref name="address"/> in the page the entry names.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private byte* HostByte(ulong entry, ulong address) =>
        _hostBase + ((nint)(uint)entry << Paging.PageShift) + (nint)(address & Paging.PageOffsetMask);

    private void ReadSlow(ulong address, Span<byte> destination)
    {
        ThrowIfDestroyed();
        if (destination.IsEmpty) return;
        CheckCovered(address, destination.Length);
        int done = 0;
        while (done < destination.Length)
        {
            ulong at = address + (ulong)done;
            MemoryRange range = FindRange(at)!;
            int length = (int)Math.Min((ulong)(destination.Length - done), range.End - at);
            Span<byte> part = destination.Slice(done, length);
            if (range.Type == GuestPageType.Mmio) range.Mmio!.Read(at - range.Start, part);
            else ReadPages(range, at - range.Start, part);
            done += length;
        }
    }

    /// <summary>Copies from consecutive pages of one RAM/ROM range, one access section per page.</summary>
    private void ReadPages(MemoryRange range, ulong offset, Span<byte> destination)
    {
        while (!destination.IsEmpty)
        {
            int inPage = (int)(offset & Paging.PageOffsetMask);
            int length = Math.Min(destination.Length, Paging.PageSize - inPage);
            AccessEpoch.Section section = AccessEpoch.Enter();
            ulong e = Volatile.Read(ref range.Entries[offset >> Paging.PageShift]);
            if (GuestPage.HasHostPage(e))
                new ReadOnlySpan<byte>(_host.PageAddress(GuestPage.Page(e)) + inPage, length).CopyTo(destination);
            else
                destination[..length].Clear();
            section.Exit();
            destination = destination[length..];
            offset += (ulong)length;
        }
    }

    private void WriteSlow(ulong address, ReadOnlySpan<byte> source)
    {
        ThrowIfDestroyed();
        if (source.IsEmpty) return;
        CheckCovered(address, source.Length);
        bool touchesMmio = false;
        for (ulong at = address, end = address + (ulong)source.Length; at < end;)
        {
            MemoryRange range = FindRange(at)!;
            touchesMmio |= range.Type == GuestPageType.Mmio;
            at = range.End;
        }
        if (!touchesMmio)
        {
            WritePagesLocked(address, source);
            return;
        }
        // Rare: a write that spans MMIO. Validate every RAM page first, then write range by range,
        // calling handlers outside the lock.
        using (_lock.Enter()) PrepareWrite(address, source.Length);
        for (int done = 0; done < source.Length;)
        {
            ulong at = address + (ulong)done;
            MemoryRange range = FindRange(at)!;
            int length = (int)Math.Min((ulong)(source.Length - done), range.End - at);
            if (range.Type == GuestPageType.Mmio) range.Mmio!.Write(at - range.Start, source.Slice(done, length));
            else WritePagesLocked(at, source.Slice(done, length));
            done += length;
        }
    }

    /// <summary>
    /// The slow write over RAM/ROM: under the VM lock, check every page first (ballooned pages, pages
    /// needed), make sure enough handy pages are at hand, then make each page writable and copy.
    /// When an allocation limit is hit only because freed pages still wait for readers, wait for them
    /// (outside the lock) and try once more.
    /// </summary>
    private void WritePagesLocked(ulong address, ReadOnlySpan<byte> source)
    {
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                using (_lock.Enter())
                {
                    ThrowIfDestroyed();
                    PrepareWrite(address, source.Length);
                    for (int done = 0; done < source.Length;)
                    {
                        ulong at = address + (ulong)done;
                        MemoryRange range = FindRange(at)!;
                        int length = (int)Math.Min((ulong)(source.Length - done), range.End - at);
                        WriteRangeLocked(range, at - range.Start, source.Slice(done, length));
                        done += length;
                    }
                    return;
                }
            }
            catch (GmmException e) when (attempt == 0 && IsLimit(e.Error) && _deferred.CountFor(Vm) + _deferred.Count > 0 && !AccessEpoch.IsInside)
            {
                _deferred.ReclaimAll();
            }
        }
    }

    private static bool IsLimit(GmmError error) => error is GmmError.HitVmAccountLimit or GmmError.HitGlobalLimit;

    /// <summary>Under the lock: refuse ballooned pages and make sure every page that needs one can get a host page.</summary>
    private void PrepareWrite(ulong address, int length)
    {
        int needed = 0;
        ulong end = address + (ulong)length;
        for (ulong at = address & ~(ulong)Paging.PageOffsetMask; at < end; at += Paging.PageSize)
        {
            MemoryRange range = FindRange(at)!;
            if (range.Type == GuestPageType.Mmio) { at = range.End - Paging.PageSize; continue; }
            ulong e = range.Entries[(at - range.Start) >> Paging.PageShift];
            switch (GuestPage.State(e))
            {
                case GuestPageState.Ballooned:
                    throw new GmmException(GmmError.PageBallooned, $"guest page {at:x} is in the balloon; deflate it before writing");
                case GuestPageState.Zero or GuestPageState.Shared:
                    needed++;
                    break;
            }
        }
        if (needed > 0) _handy.Ensure(needed);
    }

    /// <summary>Under the lock: writes consecutive pages of one RAM/ROM range.</summary>
    private void WriteRangeLocked(MemoryRange range, ulong offset, ReadOnlySpan<byte> source)
    {
        while (!source.IsEmpty)
        {
            int inPage = (int)(offset & Paging.PageOffsetMask);
            int length = Math.Min(source.Length, Paging.PageSize - inPage);
            int index = (int)(offset >> Paging.PageShift);
            ReadOnlySpan<byte> part = source[..length];
            if (range.Type == GuestPageType.Rom)
            {
                if (range.RomMode == RomWriteMode.Shadow)
                    part.CopyTo(new Span<byte>(_host.PageAddress(GuestPage.Page(range.Entries[index])) + inPage, length));
            }
            else
            {
                ulong e = MakeWritable(range, index, length == Paging.PageSize ? part : default, out bool filled);
                if (!filled) part.CopyTo(HostPage(e)[inPage..]);
            }
            source = source[length..];
            offset += (ulong)length;
        }
    }

    /// <summary>Checks that [address, address + length) lies entirely inside registered ranges.</summary>
    private void CheckCovered(ulong address, long length)
    {
        if (address >= MaxAddress || (ulong)length > MaxAddress - address) throw NotMapped(address, length);
        ulong end = address + (ulong)length;
        for (ulong at = address; at < end;)
        {
            MemoryRange range = FindRange(at) ?? throw NotMapped(address, length);
            at = range.End;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Span<byte> HostPage(ulong entry) => new(_host.PageAddress(GuestPage.Page(entry)), Paging.PageSize);
}
