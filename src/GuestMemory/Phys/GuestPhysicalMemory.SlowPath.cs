using System.Runtime.CompilerServices;
using GuestMemory.Host;

namespace GuestMemory.Phys;

public sealed unsafe partial class GuestPhysicalMemory
{
    internal void ReadSlow(ulong address, Span<byte> destination)
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

    internal void WriteSlow(ulong address, ReadOnlySpan<byte> source)
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
            // The filter only tests values: it runs before the Gmm's lock is released by the frame that
            // threw (filters run in the first pass), so it must not take a lock. The catch block runs after.
            catch (GmmException e) when (attempt == 0 && IsLimit(e.Error))
            {
                if (_deferred.Count == 0 || AccessEpoch.IsInside) throw;
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
                {
                    ref ulong slot = ref range.Entries[index];
                    part.CopyTo(HostPage(slot)[inPage..]);
                    // Shadow ROM is written in place: live save and migration must still see it as changed.
                    ulong written = slot | GuestPage.WrittenToFlag | GuestPage.DirtyFlag;
                    if (written != slot) Publish(ref slot, slot, written);
                }
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

    internal ulong ReadUInt64Slow(ulong address)
    {
        ulong value = 0;
        ReadSlow(address, new Span<byte>(&value, sizeof(ulong)));
        return value;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Span<byte> HostPage(ulong entry) => new(_host.PageAddress(GuestPage.Page(entry)), Paging.PageSize);
}
