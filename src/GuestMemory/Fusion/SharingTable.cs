using System.Runtime.InteropServices;
using GuestMemory.Gmm;
using GuestMemory.Phys;

namespace GuestMemory.Fusion;

/// <summary>
/// One sharing domain's content index: page hash → a short chain of candidates, each either a shared
/// page (stable, like KSM's stable tree) or one monitored private page still waiting for a twin
/// (unstable). A chain holds several candidates because different contents can share a hash (CRC
/// collisions can even be made on purpose): a newcomer that collides is appended instead of evicting
/// the page it collided with, so one impostor cannot keep a common page from being shared.
/// </summary>
/// <remarks>
/// Entries go stale (the shared page freed and its id reused, the private page written, its VM
/// destroyed). Every use re-validates by comparing bytes and by the merge request's precondition, so
/// staleness costs a lookup, never correctness; <see cref="Prune"/> drops stale entries so the table
/// neither grows without bound nor keeps destroyed VMs alive. Touched only by the fusion thread (under
/// <see cref="PageFusion"/>'s pass lock).
/// </remarks>
internal sealed class SharingTable
{
    /// <summary>Different contents indexed under one hash at most; further ones are not indexed.</summary>
    public const int MaxChain = 4;

    private readonly Dictionary<ulong, int> _heads = [];
    private Slot[] _slots = new Slot[1024];
    private int _used;
    private int _free = -1;

    private struct Slot
    {
        public Candidate Candidate;
        public ulong Hash;
        public int Next; // next slot of the same hash (or of the free list), or -1
    }

    /// <summary>Candidates held.</summary>
    public int Count { get; private set; }

    /// <summary>The first slot of <paramref name="hash"/>'s chain, or -1.</summary>
    public int First(ulong hash) => _heads.TryGetValue(hash, out int slot) ? slot : -1;

    /// <summary>The next slot of the same chain, or -1.</summary>
    public int Next(int slot) => _slots[slot].Next;

    /// <summary>The candidate in a slot.</summary>
    public Candidate this[int slot] => _slots[slot].Candidate;

    /// <summary>Puts another candidate in a slot of the same hash (a stale one, or the private page that just became shared).</summary>
    public void Replace(int slot, Candidate candidate) => _slots[slot].Candidate = candidate;

    /// <summary>Makes the candidates of <paramref name="hash"/> that name shared page <paramref name="from"/> name <paramref name="to"/> (the page moved).</summary>
    public void Repoint(ulong hash, PageId from, PageId to)
    {
        for (int slot = First(hash); slot >= 0; slot = _slots[slot].Next)
            if (_slots[slot].Candidate is { IsShared: true } c && c.Shared == from) _slots[slot].Candidate = Candidate.ForShared(to);
    }

    /// <summary>Appends a candidate to its hash's chain; false (and nothing added) when the chain is full.</summary>
    public bool Add(ulong hash, Candidate candidate)
    {
        ref int head = ref CollectionsMarshal.GetValueRefOrAddDefault(_heads, hash, out bool exists);
        int length = 0;
        if (exists)
            for (int s = head; s >= 0; s = _slots[s].Next) length++;
        if (length == MaxChain) return false;
        int slot = Allocate();
        _slots[slot] = new Slot { Candidate = candidate, Hash = hash, Next = exists ? head : -1 };
        head = slot;
        Count++;
        return true;
    }

    /// <summary>Removes every candidate <paramref name="isStale"/> rejects (given the candidate and its hash).</summary>
    public int Prune(Func<Candidate, ulong, bool> isStale)
    {
        int removed = 0;
        foreach (ulong hash in _heads.Keys)
        {
            ref int head = ref CollectionsMarshal.GetValueRefOrNullRef(_heads, hash);
            ref int link = ref head;
            while (link >= 0)
            {
                int slot = link;
                if (!isStale(_slots[slot].Candidate, hash))
                {
                    link = ref _slots[slot].Next;
                    continue;
                }
                link = _slots[slot].Next;
                Release(slot);
                removed++;
            }
            if (head < 0) _heads.Remove(hash); // allowed while enumerating (since .NET Core 3.0)
        }
        Count -= removed;
        return removed;
    }

    private int Allocate()
    {
        if (_free >= 0)
        {
            int slot = _free;
            _free = _slots[slot].Next;
            return slot;
        }
        if (_used == _slots.Length) Array.Resize(ref _slots, _slots.Length * 2);
        return _used++;
    }

    private void Release(int slot)
    {
        _slots[slot] = new Slot { Next = _free };
        _free = slot;
    }

    /// <summary>A shared page that exists, or a private page of a VM waiting for a twin.</summary>
    internal readonly record struct Candidate(PageId Shared, VirtualMachine? Vm, MemoryRange? Range, int Index, ulong Entry)
    {
        public bool IsShared => Vm == null;
        public static Candidate ForShared(PageId page) => new(page, null, null, 0, 0);
        public static Candidate ForPrivate(VirtualMachine vm, MemoryRange range, int index, ulong entry) => new(PageId.Nil, vm, range, index, entry);

        /// <summary>True when this is the record of that very guest page (perhaps with an older entry).</summary>
        public bool Is(VirtualMachine vm, MemoryRange range, int index) => Vm == vm && Range == range && Index == index;
    }
}
