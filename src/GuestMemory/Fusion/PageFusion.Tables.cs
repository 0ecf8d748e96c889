using GuestMemory.Gmm;
using GuestMemory.Phys;

namespace GuestMemory.Fusion;

public sealed partial class PageFusion
{
    private readonly Dictionary<string, SharingTable> _tables = [];
    private readonly HashSet<VirtualMachine> _indexedVms = [];
    private int _candidatesAfterPrune;
    /// <summary>Set once the first table exists (read by the compactor's thread: before that no move needs telling).</summary>
    private volatile bool _hasTables;

    /// <summary>The table of <paramref name="vm"/>'s sharing domain (created on first use).</summary>
    private SharingTable TableFor(VirtualMachine vm)
    {
        _indexedVms.Add(vm);
        if (!_tables.TryGetValue(vm.Options.SharingDomain, out SharingTable? table))
        {
            _tables[vm.Options.SharingDomain] = table = new SharingTable();
            _hasTables = true;
        }
        return table;
    }

    /// <summary>
    /// Drops stale candidates when a VM the tables point into was destroyed (so it can be collected) or
    /// the tables doubled since the last prune (so they stay proportional to live contents). Amortised:
    /// each prune costs one check per candidate, and the doubling rule keeps that O(1) per insertion.
    /// </summary>
    private void PruneTables()
    {
        int candidates = _tables.Values.Sum(t => t.Count);
        bool vmGone = _indexedVms.Any(v => v.IsDestroyed);
        if (!vmGone && candidates < 2 * _candidatesAfterPrune + 1024) return;
        foreach (SharingTable table in _tables.Values) table.Prune(IsStale);
        _indexedVms.RemoveWhere(v => v.IsDestroyed);
        _candidatesAfterPrune = _tables.Values.Sum(t => t.Count);
    }

    /// <summary>
    /// A private candidate is stale once its entry changed or its VM is gone; a shared one once the page
    /// is no longer shared or holds content of another hash (its id was reused; the Gmm keeps the low
    /// 32 bits of the hash with every shared page).
    /// </summary>
    private bool IsStale(SharingTable.Candidate candidate, ulong hash)
    {
        if (!candidate.IsShared)
            return candidate.Vm!.IsDestroyed || GuestPhysicalMemory.ReadEntry(candidate.Range!, candidate.Index) != candidate.Entry;
        try
        {
            HostPageInfo info = _manager.Pages.InspectPage(candidate.Shared);
            return info.State != HostPageState.Shared || info.Checksum != PageHash.Checksum(hash);
        }
        catch (GmmException e) when (e.Error == GmmError.PageNotFound)
        {
            return true; // its chunk went back to the host
        }
    }
}
