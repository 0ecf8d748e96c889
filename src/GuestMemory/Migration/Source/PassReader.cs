using GuestMemory.Fusion;
using GuestMemory.Host;
using GuestMemory.Phys;
using GuestMemory.State;

namespace GuestMemory.Migration.Source;

/// <summary>
/// Walks one pass over the layout's RAM and ROM pages in address order (the order records address them)
/// and fills batches: pages the tracker did not take become SKIP runs, zero and ballooned pages runs of
/// their kind (read from the entry alone), and every other page is copied out of guest memory inside an
/// access section, the way every reader of guest memory must (<see cref="AccessEpoch"/>). A private page
/// whose copy is all zero becomes ZERO: zero data never costs 4 KiB.
/// </summary>
/// <remarks>
/// The tracker armed the pass's pages before the walk (<see cref="DirtyPageTracker.PreparePass"/>), so
/// each copy is a content the page held after its arming; what the walk records as sent is what the
/// tracker compares with next pass. Not thread-safe: the session's thread drives it.
/// </remarks>
internal sealed class PassReader(HostMemory host, MemoryRange[] ranges, DirtyPageTracker tracker)
{
    private int _range;
    private int _index;
    private ulong _position;

    /// <summary>True once the walk has covered every page of the pass.</summary>
    public bool Done => _range == ranges.Length;

    /// <summary>Starts a pass at the first page.</summary>
    public void Begin()
    {
        _range = _index = 0;
        _position = 0;
        SkipEmptyRanges();
    }

    /// <summary>Fills <paramref name="batch"/> (cleared first) until it is full or the pass ends.</summary>
    public void Fill(PageBatch batch)
    {
        batch.Clear(_position);
        while (!Done && !batch.IsFull)
        {
            MemoryRange range = ranges[_range];
            int pages = range.Entries.Length;
            if ((_index & 63) == 0 && tracker.PendingWord(_range, _index) == 0)
            {
                int stretch = Math.Min(64, pages - _index);
                batch.Run(RecordType.Skip, (uint)stretch);
                Advance(stretch);
                continue;
            }
            if (tracker.IsPending(_range, _index)) tracker.Sent(_range, _index, Read(batch, range, _index));
            else batch.Run(RecordType.Skip, 1);
            Advance(1);
        }
    }

    /// <summary>Reads one page into the batch; returns what it is sent as.</summary>
    private PageClass Read(PageBatch batch, MemoryRange range, int index)
    {
        ulong e = GuestPhysicalMemory.ReadEntry(range, index);
        if (range.Type == GuestPageType.Ram && !GuestPage.HasHostPage(e))
        {
            // Zero or ballooned: the entry says it all, no page to read (and no access section needed).
            bool ballooned = GuestPage.State(e) == GuestPageState.Ballooned;
            batch.Run(ballooned ? RecordType.Ballooned : RecordType.Zero, 1);
            return ballooned ? PageClass.Ballooned : PageClass.Zero;
        }
        int slot = batch.TakeSlot();
        bool copied = Copy(range, index, batch.Copy(slot));
        if (range.Type == GuestPageType.Rom)
        {
            batch.Page(slot, RecordType.Rom);
            return PageClass.Rom;
        }
        if (copied && !PageContent.IsZero(batch.Copy(slot)))
        {
            batch.Page(slot, RecordType.Raw);
            return PageClass.Raw;
        }
        batch.ReturnSlot();
        // Not copied: the page lost its host page since the entry was read (zeroed by fusion, ballooned): sent as zero,
        // and sent again next pass if it is ballooned now (the tracker compares what it was sent as).
        batch.Run(RecordType.Zero, 1);
        return PageClass.Zero;
    }

    /// <summary>Copies the page's bytes inside an access section; false when it has no host page any more.</summary>
    private bool Copy(MemoryRange range, int index, Span<byte> destination)
    {
        AccessEpoch.Section section = AccessEpoch.Enter();
        try
        {
            ulong e = GuestPhysicalMemory.ReadEntry(range, index);
            if (!GuestPage.HasHostPage(e)) return false;
            PageClassifier.Content(host, e).CopyTo(destination);
            return true;
        }
        finally
        {
            section.Exit();
        }
    }

    private void Advance(int pages)
    {
        _index += pages;
        _position += (ulong)pages;
        if (_index == ranges[_range].Entries.Length)
        {
            _range++;
            _index = 0;
            SkipEmptyRanges();
        }
    }

    /// <summary>MMIO ranges hold no pages.</summary>
    private void SkipEmptyRanges()
    {
        while (_range < ranges.Length && ranges[_range].Entries.Length == 0) _range++;
    }
}
