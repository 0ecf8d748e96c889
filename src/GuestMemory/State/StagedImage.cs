using System.Buffers;
using System.Runtime.CompilerServices;
using GuestMemory.Fusion;
using GuestMemory.Gmm;
using GuestMemory.Phys;

namespace GuestMemory.State;

/// <summary>
/// The image a restore builds beside the VM's own: one staged entry per RAM and ROM page, in the packed
/// <see cref="GuestPage"/> format, pointing at pages of the <see cref="StagingPool"/> or at shared pages
/// the host already had. Nothing here is visible to the guest until <see cref="Commit"/> swaps all the
/// entries in one step under the VM lock; until then any error frees what was staged
/// (<see cref="Discard"/>) and the VM is as it was.
/// </summary>
/// <remarks>
/// <para>Records address pages by a cursor that walks the layout's RAM and ROM pages in address order;
/// each pass covers every page once (the first pass with data, later ones with SKIP runs for pages
/// unchanged since). A later record for a page replaces the earlier one: a private page is reused in
/// place, a shared reference is dropped.</para>
/// <para>Staged pages belong to this restore alone (no entry names them yet), so they are filled and
/// freed directly, without access sections or deferred frees. Owned by one restore; not thread-safe.</para>
/// </remarks>
internal sealed class StagedImage
{
    private readonly VirtualMachine _vm;
    private readonly PageManager _gmm;
    private readonly ReservationLease _lease;
    private readonly MemoryRange[] _ranges;
    private readonly PageEntryTable[] _entries;
    private readonly PageCursor _cursor;
    private readonly StagingPool _pool;
    private readonly StagedContents _contents;
    private bool _committed;

    /// <param name="vm">The VM the image is for (its base account pays for the staged pages).</param>
    /// <param name="ranges">The VM's range array the image is staged against.</param>
    /// <param name="lease">Raises the VM's reservation where the staged pages need it.</param>
    /// <param name="incremental">True for a migration mirror's later checkpoint: a page no record changes keeps the
    /// VM's own entry at <see cref="Commit"/> (its staged entry is <see cref="GuestPage.Unchanged"/>).</param>
    public StagedImage(VirtualMachine vm, MemoryRange[] ranges, ReservationLease lease, bool incremental = false)
    {
        _vm = vm;
        _gmm = vm.Manager.Pages;
        _lease = lease;
        _ranges = ranges;
        _entries = ranges.Select(r => new PageEntryTable(r.Entries.Length)).ToArray();
        if (incremental) foreach (PageEntryTable entries in _entries) entries.AsSpan().Fill(GuestPage.Unchanged);
        _cursor = new PageCursor(ranges, _entries, incremental);
        // At most one staged page per guest page is in use at a time, and the pool grows only when none is free.
        _pool = new StagingPool(vm, lease, limit: _cursor.Pages + StagingPool.GrowthBatch);
        _contents = new StagedContents(vm);
    }

    public StagingPool Pool => _pool;

    /// <summary>Applies one record to the staged image.</summary>
    /// <exception cref="GmmException"><see cref="GmmError.StateCorrupt"/> or <see cref="GmmError.StateTooLarge"/> when the
    /// record does not fit the layout, the pass or the contents; the Gmm's errors when a page cannot be had.</exception>
    public void Apply(in StateRecord record)
    {
        switch (record.Type)
        {
            case RecordType.Zero or RecordType.Ballooned:
                _cursor.CheckRun(record);
                var state = record.Type == RecordType.Zero ? GuestPageState.Zero : GuestPageState.Ballooned;
                for (uint n = 0; n < record.Value; n++)
                {
                    ref ulong slot = ref _cursor.Next(record.Type, GuestPageType.Ram, out _);
                    Release(ref slot);
                    slot = GuestPage.Make(GuestPageType.Ram, state, PageId.Nil);
                }
                break;
            case RecordType.Skip:
                _cursor.Skip(record);
                break;
            case RecordType.Raw or RecordType.Rom:
            {
                ref ulong slot = ref _cursor.Next(record.Type, record.Type == RecordType.Raw ? GuestPageType.Ram : GuestPageType.Rom, out MemoryRange range);
                Fill(ref slot, range.Type, record.Page);
                break;
            }
            case RecordType.Shared:
                ApplyShared(record);
                break;
            case RecordType.SharedRef:
                ApplySharedRef(record.Value);
                break;
            case RecordType.Pass:
                _cursor.BeginPass(record.Value);
                _contents.BeginPass();
                break;
        }
    }

    /// <summary>
    /// A migration CONTENT_REF: the next page references <paramref name="shared"/>, a shared page the receiver
    /// holds a reference to (this takes the page's own).
    /// </summary>
    public void ApplyReference(PageId shared)
    {
        ref ulong slot = ref _cursor.Next(RecordType.ContentRef, GuestPageType.Ram, out _);
        Reference(ref slot, shared);
    }

    /// <summary>The bytes staged for the RAM page at <paramref name="position"/> when it holds a private staged page; else empty.</summary>
    public ReadOnlySpan<byte> StagedContent(ulong position)
    {
        ulong e = _cursor.RamSlotAt(position);
        return GuestPage.State(e) == GuestPageState.Allocated ? _gmm.Host.PageSpan(GuestPage.Page(e)) : default;
    }

    /// <summary>
    /// Moves the private page staged at <paramref name="position"/> onto a new shared page (one reference,
    /// the page's own) and returns it, so that a migration DUPLICATE can reference the content instead of
    /// storing it again. The caller checked <see cref="StagedContent"/>; the private page goes back to the pool.
    /// </summary>
    /// <exception cref="GmmException"><see cref="GmmError.HitGlobalLimit"/> when the host has no page for it.</exception>
    public PageId ShareStaged(ulong position, uint checksum)
    {
        ref ulong slot = ref _cursor.RamSlotAt(position);
        PageId shared = _gmm.Port.AllocateSharedPage(_vm.Handle, checksum);
        _gmm.Host.PageSpan(GuestPage.Page(slot)).CopyTo(_gmm.Host.PageSpan(shared));
        Release(ref slot);
        slot = GuestPage.Make(GuestPageType.Ram, GuestPageState.Shared, shared);
        return shared;
    }

    /// <summary>Checks that the current pass covered every page (a migration's PASS_END).</summary>
    public void CheckPassComplete() => _cursor.CheckComplete();

    /// <summary>Checks END against the staged image: every page covered, and the declared figures.</summary>
    public void CheckEnd(StateEnd end)
    {
        _cursor.CheckComplete();
        ImageFigures f = Figures();
        if (end.Passes != _cursor.Pass || end.SharedContents != _contents.Count || end.NonZeroPages != f.Private + f.Shared || end.BalloonedPages != f.Ballooned)
            throw StateErrors.Corrupt($"END declares {end.Passes} passes, {end.SharedContents} contents, {end.NonZeroPages} non-zero and {end.BalloonedPages} ballooned pages; " +
                                      $"the records hold {_cursor.Pass}, {_contents.Count}, {f.Private + f.Shared} and {f.Ballooned}");
    }

    /// <summary>
    /// Frees what the image does not use, tells the Gmm which guest frame each staged page backs, settles
    /// the balloon count and swaps every entry in, under the VM lock. If this throws, nothing changed.
    /// </summary>
    public void Commit()
    {
        _pool.FreeUnused();
        _contents.Release();
        // Pooled: a migration commits inside the guest's downtime, where a large allocation could start a full GC.
        PageDescriptor[] frames = ArrayPool<PageDescriptor>.Shared.Rent((int)Math.Min(Array.MaxLength, Math.Max(1, _pool.AllocatedUpFront + _pool.AllocatedLater)));
        try
        {
            int count = StagedFrames(frames);
            _vm.Memory.CommitRestore(_ranges, _entries, balloonDelta => SettleAccounts(frames.AsSpan(0, count), balloonDelta));
        }
        finally
        {
            ArrayPool<PageDescriptor>.Shared.Return(frames);
        }
        _committed = true;
    }

    /// <summary>
    /// Under the VM lock, before any entry changes: tells the Gmm the guest frame of each staged page (the
    /// handy-page call with no new pages is the Gmm's "these pages now back these frames"), and moves the
    /// VM's balloon count to the image's, raising the reservation first if the balloon needs room.
    /// </summary>
    private void SettleAccounts(ReadOnlySpan<PageDescriptor> frames, long balloonDelta)
    {
        for (int done = 0; done < frames.Length; done += 4096)
            _gmm.Port.AllocateHandyPages(_vm.Handle, frames.Slice(done, Math.Min(4096, frames.Length - done)), Span<PageDescriptor>.Empty);
        if (balloonDelta > 0)
        {
            _lease.EnsureHeadroom(balloonDelta);
            _gmm.Port.BalloonedPagesFreedLater(_vm.Handle, balloonDelta, 0, completed: false);
        }
        else if (balloonDelta < 0)
        {
            _gmm.Port.DeflatedBalloon(_vm.Handle, -balloonDelta);
        }
    }

    /// <summary>After a failure: frees every staged page and drops every reference taken. The VM never saw any of them.</summary>
    public void Discard()
    {
        if (_committed) return;
        try
        {
            var held = new List<PageId>();
            foreach (PageEntryTable entries in _entries)
                foreach (ulong e in entries)
                    if (GuestPage.HasHostPage(e)) held.Add(GuestPage.Page(e));
            _gmm.Port.FreePages(_vm.Handle, GmmAccount.Base, held.ToArray());
            _pool.FreeUnused();
            _contents.Release();
        }
        catch (GmmException e) when (e.Error == GmmError.VmNotFound)
        {
            // The VM was destroyed meanwhile: the Gmm freed all its pages and references with it.
        }
    }

    public RestoreSummary Summary(long bytes)
    {
        ImageFigures f = Figures();
        return new RestoreSummary
        {
            Bytes = bytes, Passes = (int)_cursor.Pass, PagesAllocatedUpFront = _pool.AllocatedUpFront, PagesAllocatedLater = _pool.AllocatedLater,
            PrivatePages = f.Private, SharedPages = f.Shared, SharedContentsFound = _contents.FoundOnHost, ZeroPages = f.Zero, BalloonedPages = f.Ballooned,
        };
    }

    private void ApplyShared(in StateRecord record)
    {
        ref ulong slot = ref _cursor.Next(record.Type, GuestPageType.Ram, out _);
        if (record.Value != _contents.Count) throw StateErrors.Corrupt($"shared content {record.Value} where content {_contents.Count} comes next");
        if (PageHash.Compute(record.Page) != record.Hash) throw StateErrors.Corrupt($"shared content {record.Value} does not match its hash");
        PageId shared = _contents.Define(record.Hash, record.Page);
        if (!shared.IsNil)
        {
            Reference(ref slot, shared);
            return;
        }
        PageId page = Fill(ref slot, GuestPageType.Ram, record.Page);
        _contents.SetSource((int)record.Value, page);
    }

    private void ApplySharedRef(uint index)
    {
        ref ulong slot = ref _cursor.Next(RecordType.SharedRef, GuestPageType.Ram, out _);
        if (!_contents.IsReferable(index)) throw StateErrors.Corrupt($"a reference to shared content {index}, not one defined in pass {_cursor.Pass}");
        PageId shared = _contents.HostShared((int)index);
        if (!shared.IsNil) Reference(ref slot, shared);
        else Fill(ref slot, GuestPageType.Ram, _gmm.Host.PageSpan(_contents.Source((int)index)));
    }

    /// <summary>Copies a page into the slot's own private page (reused in place when it has one), or a page from the pool.</summary>
    private PageId Fill(ref ulong slot, GuestPageType type, ReadOnlySpan<byte> content)
    {
        PageId page = GuestPage.Page(slot);
        if (GuestPage.State(slot) != GuestPageState.Allocated)
        {
            Release(ref slot);
            page = _pool.Take();
        }
        content.CopyTo(_gmm.Host.PageSpan(page));
        slot = GuestPage.Make(type, GuestPageState.Allocated, page);
        return page;
    }

    private void Reference(ref ulong slot, PageId shared)
    {
        _gmm.Port.AddSharedReference(_vm.Handle, shared);
        Release(ref slot);
        slot = GuestPage.Make(GuestPageType.Ram, GuestPageState.Shared, shared);
    }

    /// <summary>Lets go of what the slot holds: its private page back to the pool, its shared reference dropped.</summary>
    private void Release(ref ulong slot)
    {
        ulong e = slot;
        slot = 0;
        if (GuestPage.State(e) == GuestPageState.Allocated) _pool.Return(GuestPage.Page(e));
        else if (GuestPage.State(e) == GuestPageState.Shared) _gmm.Port.FreePages(_vm.Handle, GmmAccount.Base, [GuestPage.Page(e)]);
    }

    /// <summary>Writes the guest frame of every staged private page into <paramref name="frames"/> (one per page the pool handed out at most); returns how many.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // inside a migration's downtime: no unoptimised tier
    private int StagedFrames(PageDescriptor[] frames)
    {
        int count = 0;
        for (int r = 0; r < _ranges.Length; r++)
            for (int i = 0; i < _entries[r].Length; i++)
                if (GuestPage.State(_entries[r][i]) == GuestPageState.Allocated)
                    frames[count++] = new PageDescriptor { Page = GuestPage.Page(_entries[r][i]), GuestFrame = (_ranges[r].Start >> Paging.PageShift) + (ulong)i };
        return count;
    }

    /// <summary>How the image's pages are backed once committed (a page the image keeps as it is counts as the VM's page).</summary>
    public ImageFigures Figures() => ImageFigures.Of(_entries, _ranges);
}
