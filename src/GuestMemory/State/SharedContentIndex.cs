using GuestMemory.Fusion;
using GuestMemory.Gmm;
using GuestMemory.Host;
using GuestMemory.Phys;

namespace GuestMemory.State;

/// <summary>
/// A content-addressed view of the shared pages that already exist on this host in one sharing domain:
/// page hash → shared host page. A restore looks each shared content of the state up here, so a page
/// that was shared when saved comes back shared when the host still has an identical page.
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
    private readonly Dictionary<ulong, PageId> _byHash = [];

    private SharedContentIndex() { }

    /// <summary>Indexes the shared pages of every live VM of <paramref name="domain"/> that shares pages.</summary>
    public static SharedContentIndex Build(GlobalMemoryManager manager, string domain)
    {
        var index = new SharedContentIndex();
        var seen = new HashSet<uint>();
        foreach (VirtualMachine other in manager.Vms)
        {
            if (other.IsDestroyed || !other.Options.PageSharing || other.Options.SharingDomain != domain) continue;
            foreach (MemoryRange range in other.Memory.Ranges)
            {
                if (range.Type != GuestPageType.Ram) continue;
                for (int i = 0; i < range.Entries.Length; i++)
                {
                    ulong e = GuestPhysicalMemory.ReadEntry(range, i);
                    if (GuestPage.State(e) == GuestPageState.Shared && seen.Add(GuestPage.Page(e).Value)) index.Add(manager.Pages.Host, range, i);
                }
            }
        }
        return index;
    }

    /// <summary>
    /// A shared page with exactly <paramref name="content"/>, with one reference taken for
    /// <paramref name="vm"/>; or <see cref="PageId.Nil"/> (no reference taken) when the host has none.
    /// </summary>
    public PageId TryTake(PageManager gmm, VmHandle vm, ulong hash, ReadOnlySpan<byte> content)
    {
        if (!_byHash.TryGetValue(hash, out PageId page)) return PageId.Nil;
        try
        {
            gmm.AddSharedReference(vm, page);
        }
        catch (GmmException e) when (e.Error is GmmError.PageNotShared or GmmError.PageNotFound)
        {
            _byHash.Remove(hash);
            return PageId.Nil;
        }
        if (PageContent.Equal(gmm.Host.PageSpan(page), content)) return page;
        gmm.FreePages(vm, GmmAccount.Base, [page]);
        _byHash.Remove(hash);
        return PageId.Nil;
    }

    /// <summary>Hashes the page inside an access section, if the entry still names the same shared page.</summary>
    private void Add(HostMemory host, MemoryRange range, int index)
    {
        AccessEpoch.Section section = AccessEpoch.Enter();
        try
        {
            ulong e = GuestPhysicalMemory.ReadEntry(range, index);
            if (GuestPage.State(e) != GuestPageState.Shared) return;
            _byHash.TryAdd(PageHash.Compute(host.PageSpan(GuestPage.Page(e))), GuestPage.Page(e));
        }
        finally
        {
            section.Exit();
        }
    }
}
