using System.Runtime.CompilerServices;
using GuestMemory.Gmm;
using GuestMemory.Host;
using GuestMemory.Phys;

namespace GuestMemory.Fusion;

public sealed unsafe partial class PageFusion
{
    /// <summary>What comparing a page with one candidate of its hash gave.</summary>
    private enum Match
    {
        /// <summary>Equal: the merge is queued.</summary>
        Merged,
        /// <summary>Other bytes under the same hash: keep the candidate, try the next.</summary>
        Different,
        /// <summary>The candidate no longer is what the table says: its slot may be reused.</summary>
        Stale,
        /// <summary>Equal, but no merge now (no room for a shared page, or a page changed meanwhile): try again next pass.</summary>
        Later,
    }

    /// <summary>Zero-checks and hashes one monitored page, then merges it with its twin if it has one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Examine(VirtualMachine vm, MemoryRange range, RangeFusionState state, SharingTable table, int index, ulong e, ref PassCounters pass)
    {
        AccessEpoch.Section section = AccessEpoch.Enter();
        try
        {
            // The entry was loaded before the section began: read only a page it still names.
            if (GuestPhysicalMemory.ReadEntry(range, index) != e) return;
            ulong address = range.Start + ((ulong)index << Paging.PageShift);
            ReadOnlySpan<byte> content = PageSpan(GuestPage.Page(e));
            pass.Examined++;
            pass.Bytes += Paging.PageSize;
            if (PageContent.IsZero(content))
            {
                _merges.Add(vm, address, e, Settled(GuestPage.WithState(e, GuestPageState.Zero, PageId.Nil)), PageId.Nil);
                return;
            }
            ulong hash = PageHash.Compute(content);
            int reusable = -1;
            for (int slot = table.First(hash); slot >= 0; slot = table.Next(slot))
            {
                SharingTable.Candidate twin = table[slot];
                Match match = twin.IsShared
                    ? JoinShared(vm, address, e, content, twin.Shared, hash, ref pass)
                    : Pair(vm, range, index, address, e, content, hash, table, slot, ref pass);
                if (match is Match.Merged or Match.Later) return;
                if (match == Match.Stale && reusable < 0) reusable = slot;
            }
            var self = SharingTable.Candidate.ForPrivate(vm, range, index, e);
            if (reusable >= 0) table.Replace(reusable, self);
            else table.Add(hash, self); // a full chain leaves the page unindexed; it stays hashed anyway
            state.SetHashed(index);
        }
        catch (GmmException ex) when (ex.Error is GmmError.VmNotFound or GmmError.VmDestroyed)
        {
            // A VM went away while we looked at it.
        }
        finally
        {
            section.Exit();
        }
    }

    /// <summary>Takes a reference to an existing shared page and queues the merge if the bytes are equal.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private Match JoinShared(VirtualMachine vm, ulong address, ulong e, ReadOnlySpan<byte> content, PageId shared, ulong hash, ref PassCounters pass)
    {
        try
        {
            _manager.Pages.Port.AddSharedReference(vm.Handle, shared);
        }
        catch (GmmException ex) when (ex.Error is GmmError.PageNotShared or GmmError.PageNotFound)
        {
            return Match.Stale; // freed since
        }
        // Our reference keeps the shared page alive while we read it; shared pages never change.
        ReadOnlySpan<byte> sharedContent = PageSpan(shared);
        pass.Bytes += Paging.PageSize;
        if (PageContent.Equal(content, sharedContent))
        {
            _merges.Add(vm, address, e, SharedEntry(e, shared), shared);
            return Match.Merged;
        }
        // Other bytes: a true collision, or the id was freed and reused for other content.
        bool collision = PageHash.Compute(sharedContent) == hash;
        _manager.Pages.Port.FreePages(vm.Handle, GmmAccount.Base, [shared]);
        return collision ? Match.Different : Match.Stale;
    }

    /// <summary>
    /// Compares the page with a private candidate; if equal, copies it into a new shared page and
    /// queues both merges. The candidate's slot then names the shared page.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private Match Pair(VirtualMachine vm, MemoryRange range, int index, ulong address, ulong e, ReadOnlySpan<byte> content, ulong hash,
        SharingTable table, int slot, ref PassCounters pass)
    {
        SharingTable.Candidate twin = table[slot];
        if (twin.Is(vm, range, index)) return Match.Stale; // this page's own older record
        VirtualMachine other = twin.Vm!;
        if (other.IsDestroyed || GuestPhysicalMemory.ReadEntry(twin.Range!, twin.Index) != twin.Entry) return Match.Stale;
        // An equal entry is not enough: a twin rewritten and re-armed by fusion since it was hashed has
        // exactly its old entry again (the arming clears the written-to flag), and if that arming came in
        // this pass a writer may still be copying in. Arming forgets the hashed mark, so only a twin still
        // marked hashed was armed before this pass's wait for readers and not since.
        if (!_ranges.TryGetValue(twin.Range!, out RangeFusionState? twinState) || !twinState.IsHashed(twin.Index)) return Match.Stale;
        // The twin's entry still names this page, which cannot be freed before our section ends: safe to read.
        ReadOnlySpan<byte> twinContent = PageSpan(GuestPage.Page(twin.Entry));
        pass.Bytes += Paging.PageSize;
        if (!PageContent.Equal(content, twinContent)) return Match.Different;
        PageId shared;
        try
        {
            shared = _manager.Pages.Port.AllocateSharedPage(vm.Handle, PageHash.Checksum(hash));
        }
        catch (GmmException ex) when (ex.Error is GmmError.HitGlobalLimit or GmmError.HostOutOfMemory)
        {
            return Match.Later;
        }
        Span<byte> copy = new(_manager.Pages.PageAddress(shared), Paging.PageSize);
        content.CopyTo(copy);
        pass.Bytes += Paging.PageSize;
        if (!PageContent.Equal(copy, twinContent))
        {
            // One of the pages changed while it was copied (its merge would be refused anyway).
            _manager.Pages.Port.FreePages(vm.Handle, GmmAccount.Base, [shared]);
            return Match.Later;
        }
        pass.Created++;
        table.Replace(slot, SharingTable.Candidate.ForShared(shared));
        _merges.Add(vm, address, e, SharedEntry(e, shared), shared);
        try
        {
            _manager.Pages.Port.AddSharedReference(other.Handle, shared);
            _merges.Add(other, twin.Range!.Start + ((ulong)twin.Index << Paging.PageShift), twin.Entry, SharedEntry(twin.Entry, shared), shared);
        }
        catch (GmmException ex) when (ex.Error is GmmError.VmNotFound)
        {
            // The twin's VM is gone: this page still moves to the shared page.
        }
        return Match.Merged;
    }

    private static ulong SharedEntry(ulong monitored, PageId shared) => Settled(GuestPage.WithState(monitored, GuestPageState.Shared, shared));

    /// <summary>A merged or zeroed page stayed unwritten for a pass: one step less volatile, not written to, and no longer a page the compactor is moving.</summary>
    private static ulong Settled(ulong entry) =>
        GuestPage.WithVolatility(entry, GuestPage.Volatility(entry) - 1) & ~(GuestPage.WrittenToFlag | GuestPage.MovingFlag);

    private ReadOnlySpan<byte> PageSpan(PageId page) => new(_manager.Pages.PageAddress(page), Paging.PageSize);
}
