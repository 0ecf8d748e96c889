using GuestMemory.Gmm;
using GuestMemory.Phys;

namespace GuestMemory.Fusion;

/// <summary>
/// One sharing domain's content index: page hash → either a shared page (stable, like KSM's stable
/// tree) or one monitored private page still waiting for a twin (unstable). Entries may go stale (the
/// shared page freed, the private page written); every use re-validates by comparing bytes and by the
/// merge request's precondition, so staleness costs a lookup, never correctness.
/// Touched only by the fusion thread (under <see cref="PageFusion"/>'s pass lock).
/// </summary>
internal sealed class SharingTable
{
    private readonly Dictionary<ulong, Candidate> _byHash = [];

    public int Count => _byHash.Count;

    public bool TryGet(ulong hash, out Candidate candidate) => _byHash.TryGetValue(hash, out candidate);

    public void Set(ulong hash, Candidate candidate) => _byHash[hash] = candidate;

    public void Remove(ulong hash) => _byHash.Remove(hash);

    /// <summary>A shared page that exists, or a private page of a VM waiting for a twin.</summary>
    internal readonly record struct Candidate(PageId Shared, VirtualMachine? Vm, MemoryRange? Range, int Index, ulong Entry)
    {
        public bool IsShared => Vm == null;
        public static Candidate ForShared(PageId page) => new(page, null, null, 0, 0);
        public static Candidate ForPrivate(VirtualMachine vm, MemoryRange range, int index, ulong entry) => new(PageId.Nil, vm, range, index, entry);
    }
}

/// <summary>
/// The scanner's own memory of one RAM range: which pages it armed for write monitoring (so a later
/// Allocated state means "written since", and a Write-Monitored state means "unwritten for a pass"),
/// and which of those it already hashed into the table (so unchanged pages are not hashed again).
/// </summary>
internal sealed class RangeFusionState(long pages)
{
    private readonly ulong[] _armed = new ulong[(pages + 63) / 64];
    private readonly ulong[] _hashed = new ulong[(pages + 63) / 64];

    public bool IsArmed(int index) => (_armed[index >> 6] & (1UL << index)) != 0;
    public bool IsHashed(int index) => (_hashed[index >> 6] & (1UL << index)) != 0;
    public void SetArmed(int index) => _armed[index >> 6] |= 1UL << index;
    public void SetHashed(int index) => _hashed[index >> 6] |= 1UL << index;

    public void Forget(int index)
    {
        _armed[index >> 6] &= ~(1UL << index);
        _hashed[index >> 6] &= ~(1UL << index);
    }
}
