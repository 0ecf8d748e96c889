using GuestMemory.Fusion;
using GuestMemory.Gmm;
using GuestMemory.State;

namespace GuestMemory.Migration.Target;

/// <summary>
/// Answers the source's hash queries: which of these contents can this host supply without their bytes?
/// A content is supplied from a shared page of the VM's sharing domain, or from a private page of
/// another VM of the domain, which is then merged into a shared page (<see cref="PrivatePageMerger"/>).
/// Each content found is entered in the image's <see cref="ContentTable"/> with a reference, so what the
/// answer promised is still there when the CONTENT_REF records arrive.
/// </summary>
/// <remarks>
/// Candidates come from a <see cref="SharedContentIndex"/> built when the session began (by
/// <see cref="PageHash"/>); an index entry may be stale, so every candidate is checked: a reference is
/// taken (or the page armed and copied), and the bytes must hash to the full 128-bit key. Owned by the
/// session's thread.
/// </remarks>
internal sealed class ContentFinder(GlobalMemoryManager manager, VirtualMachine incoming, SharedContentIndex index)
{
    private readonly PrivatePageMerger _merger = new(manager, incoming);
    private readonly List<PrivatePageMerger.Request> _private = [];
    private readonly List<int> _privateAt = [];

    /// <summary>Contents found on this host (shared or merged) over the session.</summary>
    public long Found { get; private set; }

    /// <summary>Private pages of other VMs that became shared pages over the session.</summary>
    public long Merged { get; private set; }

    /// <summary>Fills <paramref name="held"/> with, per key, whether <paramref name="table"/> now holds it.</summary>
    public void Answer(List<ContentKey> keys, ContentTable table, Span<bool> held)
    {
        _private.Clear();
        _privateAt.Clear();
        for (int i = 0; i < keys.Count; i++)
        {
            ContentKey key = keys[i];
            held[i] = table.Contains(key);
            if (held[i] || !index.TryFind(key.Hash, out SharingTable.Candidate candidate)) continue;
            if (candidate.IsShared)
            {
                held[i] = TryShared(key, candidate.Shared, table);
                continue;
            }
            _private.Add(new PrivatePageMerger.Request(key, candidate));
            _privateAt.Add(i);
        }
        if (_private.Count > 0) MergePrivate(table, held);
    }

    /// <summary>Takes a reference to an indexed shared page and keeps it if its bytes have the key.</summary>
    private bool TryShared(ContentKey key, PageId page, ContentTable table)
    {
        try
        {
            manager.Pages.Port.AddSharedReference(incoming.Handle, page);
        }
        catch (GmmException e) when (e.Error is GmmError.PageNotShared or GmmError.PageNotFound or GmmError.InvalidArgument)
        {
            index.Replace(key.Hash, PageId.Nil); // freed since it was indexed (or at its reference limit)
            return false;
        }
        // Our reference keeps the page; shared pages are never written in place.
        if (ContentKey.Of(manager.Pages.Host.PageSpan(page)) != key)
        {
            manager.Pages.Port.FreePages(incoming.Handle, GmmAccount.Base, [page]);
            return false;
        }
        table.Add(key, page);
        Found++;
        return true;
    }

    private void MergePrivate(ContentTable table, Span<bool> held)
    {
        Span<PageId> shared = new PageId[_private.Count];
        _merger.Merge(_private, shared);
        for (int j = 0; j < _private.Count; j++)
        {
            if (shared[j].IsNil) continue;
            table.Add(_private[j].Key, shared[j]);
            index.Replace(_private[j].Key.Hash, shared[j]);
            held[_privateAt[j]] = true;
            Found++;
            Merged++;
        }
    }
}
