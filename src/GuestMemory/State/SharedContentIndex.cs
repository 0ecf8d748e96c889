using GuestMemory.Fusion;
using GuestMemory.Gmm;
using GuestMemory.Host;
using GuestMemory.Phys;

namespace GuestMemory.State;

/// <summary>
/// A content-addressed view of the shared pages that already exist on this host in one sharing domain:
/// page hash → shared host page. A restore looks each shared content of the state up here, so a page
/// that was shared when saved comes back shared when the host still has an identical page. An incoming
/// migration also indexes the private pages of the domain's other VMs, which it may turn into shared
/// pages when a source sends their content (<see cref="TryFind"/>).
/// </summary>
/// <remarks>
/// <para><b>Why its own index and not page fusion's table.</b> Fusion's table is guarded by its pass
/// lock, held for a whole (throttled) pass, and only knows the pages fusion itself has met. This index is
/// built once per restore, only when the state holds shared contents, by walking the entries of the VMs
/// of the domain (lock-free, as scanners do) and hashing each distinct shared page once with
/// <see cref="PageHash"/>: shared pages are a fraction of guest memory, hashed at several GB/s.</para>
/// <para><b>Why a hit is safe.</b> An entry may be stale by the time it is used: the page may have been
/// freed, even reused for another content. <see cref="TryTake"/> first takes a reference (which fails if
/// the page is no longer shared), then compares the bytes with the state's content; only an identical
/// page is kept. Shared pages are never written in place, so a referenced page cannot change after that.</para>
/// </remarks>
internal sealed class SharedContentIndex
{
    private readonly Dictionary<ulong, SharingTable.Candidate> _byHash = [];

    private SharedContentIndex() { }

    /// <summary>
    /// Indexes the shared pages of every live VM of <paramref name="domain"/> that shares pages, and with
    /// <paramref name="includePrivate"/> their unmapped private pages too; <paramref name="exclude"/> is left out.
    /// A shared page wins over a private page of the same hash.
    /// </summary>
    public static SharedContentIndex Build(GlobalMemoryManager manager, string domain, bool includePrivate = false, VirtualMachine? exclude = null)
    {
        var index = new SharedContentIndex();
        var seen = new HashSet<uint>();
        foreach (VirtualMachine other in manager.Vms)
        {
            if (other == exclude || other.IsDestroyed || !other.Options.PageSharing || other.Options.SharingDomain != domain) continue;
            foreach (MemoryRange range in other.Memory.Ranges)
            {
                if (range.Type != GuestPageType.Ram) continue;
                for (int i = 0; i < range.Entries.Length; i++)
                {
                    ulong e = GuestPhysicalMemory.ReadEntry(range, i);
                    GuestPageState state = GuestPage.State(e);
                    if (state == GuestPageState.Shared ? seen.Add(GuestPage.Page(e).Value)
                        : includePrivate && state is GuestPageState.Allocated or GuestPageState.WriteMonitored && !GuestPage.IsLocked(e))
                        index.Add(manager.Pages.Host, other, range, i);
                }
            }
        }
        return index;
    }

    /// <summary>The candidate indexed under <paramref name="hash"/>: a shared page, or a private page of another VM as it was when indexed.</summary>
    public bool TryFind(ulong hash, out SharingTable.Candidate candidate) => _byHash.TryGetValue(hash, out candidate);

    /// <summary>From now on <paramref name="hash"/> names <paramref name="shared"/> (a private candidate became shared), or nothing.</summary>
    public void Replace(ulong hash, PageId shared)
    {
        if (shared.IsNil) _byHash.Remove(hash);
        else _byHash[hash] = SharingTable.Candidate.ForShared(shared);
    }

    /// <summary>
    /// A shared page with exactly <paramref name="content"/>, with one reference taken for
    /// <paramref name="vm"/>; or <see cref="PageId.Nil"/> (no reference taken) when the host has none.
    /// </summary>
    public PageId TryTake(PageManager gmm, VmHandle vm, ulong hash, ReadOnlySpan<byte> content)
    {
        if (!_byHash.TryGetValue(hash, out SharingTable.Candidate candidate) || !candidate.IsShared) return PageId.Nil;
        PageId page = candidate.Shared;
        try
        {
            gmm.Port.AddSharedReference(vm, page);
        }
        catch (GmmException e) when (e.Error is GmmError.PageNotShared or GmmError.PageNotFound)
        {
            _byHash.Remove(hash);
            return PageId.Nil;
        }
        if (PageContent.Equal(gmm.Host.PageSpan(page), content)) return page;
        gmm.Port.FreePages(vm, GmmAccount.Base, [page]);
        _byHash.Remove(hash);
        return PageId.Nil;
    }

    /// <summary>Hashes the page inside an access section, if the entry still names a page of the same state.</summary>
    private void Add(HostMemory host, VirtualMachine vm, MemoryRange range, int index)
    {
        AccessEpoch.Section section = AccessEpoch.Enter();
        try
        {
            ulong e = GuestPhysicalMemory.ReadEntry(range, index);
            if (!GuestPage.HasHostPage(e)) return;
            ulong hash = PageHash.Compute(host.PageSpan(GuestPage.Page(e)));
            if (GuestPage.State(e) == GuestPageState.Shared) Replace(hash, GuestPage.Page(e));
            else _byHash.TryAdd(hash, SharingTable.Candidate.ForPrivate(vm, range, index, e));
        }
        finally
        {
            section.Exit();
        }
    }
}
