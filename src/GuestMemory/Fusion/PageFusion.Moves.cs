using System.Collections.Concurrent;
using GuestMemory.Gmm;

namespace GuestMemory.Fusion;

public sealed partial class PageFusion
{
    /// <summary>Moves queued beyond this many are dropped: a table entry left naming the old page costs a lookup, never correctness.</summary>
    private const int MaxQueuedMoves = 1 << 20;

    private readonly ConcurrentQueue<(PageId From, PageId To, ulong Hash)> _movedShared = new();

    /// <summary>
    /// The compactor moved a shared page: <paramref name="to"/> now holds what <paramref name="from"/>
    /// held, and the entries that named <paramref name="from"/> name <paramref name="to"/>. The sharing
    /// tables should name <paramref name="to"/> too, or a later duplicate would not find it (the old page
    /// goes away) and would make a second shared copy instead of joining. Both pages must stay alive
    /// until this returns (it hashes <paramref name="to"/>); the tables are updated by the scanner before
    /// its next segment, since only it touches them.
    /// </summary>
    internal void SharedPageMoved(PageId from, PageId to)
    {
        if (!_hasTables || _movedShared.Count >= MaxQueuedMoves) return; // no table names anything yet
        _movedShared.Enqueue((from, to, PageHash.Compute(PageSpan(to))));
    }

    /// <summary>Under the pass lock: points every table entry naming a moved shared page at its new place.</summary>
    private void ApplySharedMoves()
    {
        while (_movedShared.TryDequeue(out (PageId From, PageId To, ulong Hash) move))
            foreach (SharingTable table in _tables.Values) table.Repoint(move.Hash, move.From, move.To);
    }
}
