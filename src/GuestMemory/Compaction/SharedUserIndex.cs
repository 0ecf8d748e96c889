using System.Runtime.CompilerServices;
using GuestMemory.Gmm;
using GuestMemory.Phys;

namespace GuestMemory.Compaction;

/// <summary>A guest page entry that names a shared page, as seen by one lock-free scan (the switch re-checks it).</summary>
internal readonly record struct SharedUser(VirtualMachine Vm, ulong Address, ulong Entry);

/// <summary>
/// Which guest pages name each shared page of the evacuating chunks. The Gmm keeps only reference counts
/// per VM, so the users are found by one scan over every VM's entries (lock-free snapshots), made once
/// per run and only when an evacuating chunk holds shared pages.
/// </summary>
internal sealed class SharedUserIndex
{
    private readonly Dictionary<PageId, List<SharedUser>> _users = [];

    /// <summary>Scans every live VM's RAM for unmapped Shared entries whose page lies in a chunk of <paramref name="chunks"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // one long loop over all guest RAM
    public static SharedUserIndex Build(IEnumerable<VirtualMachine> vms, IReadOnlyCollection<int> chunks)
    {
        var index = new SharedUserIndex();
        var wanted = new bool[chunks.Max() + 1];
        foreach (int chunk in chunks) wanted[chunk] = true;
        foreach (VirtualMachine vm in vms)
        {
            if (vm.IsDestroyed) continue;
            foreach (MemoryRange range in vm.Memory.Ranges)
            {
                if (range.Type != GuestPageType.Ram) continue;
                for (int i = 0; i < range.PageCount; i++)
                {
                    ulong e = GuestPhysicalMemory.ReadEntry(range, i);
                    if (GuestPage.State(e) != GuestPageState.Shared || GuestPage.IsLocked(e)) continue;
                    PageId page = GuestPage.Page(e);
                    if (page.ChunkId >= wanted.Length || !wanted[page.ChunkId]) continue;
                    if (!index._users.TryGetValue(page, out List<SharedUser>? users)) index._users[page] = users = [];
                    users.Add(new SharedUser(vm, range.Start + ((ulong)i << Paging.PageShift), e));
                }
            }
        }
        return index;
    }

    /// <summary>The users of <paramref name="page"/> seen by the scan (none when it had none, or only mapped ones).</summary>
    public IReadOnlyList<SharedUser> UsersOf(PageId page) => _users.TryGetValue(page, out List<SharedUser>? users) ? users : [];
}
