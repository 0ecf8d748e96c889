using System.Runtime.InteropServices;
using GuestMemory.Gmm;

namespace GuestMemory.State;

/// <summary>
/// The shared contents a restore has read so far, by index: for each, either a shared page the host
/// already had (found through <see cref="SharedContentIndex"/>, with a reference held by this table
/// for the length of the restore, so the page cannot be freed and reused while later records still
/// refer to it), or, when the host has none, the staged private page that first received the bytes
/// (its "source"), from which later references are copied: those come back as private pages.
/// </summary>
/// <remarks>
/// A later pass of a live save may overwrite the guest page whose staged page is a source. The page is
/// then detached: it stays with the content (later references still copy from it) and is freed before
/// the commit. Owned by one restore; not thread-safe.
/// </remarks>
internal sealed class StagedContents(VirtualMachine vm)
{
    private readonly List<(PageId HostShared, PageId Source)> _items = [];
    private readonly Dictionary<uint, int> _sourceOf = [];
    private readonly List<PageId> _held = []; // table references to host shared pages, and detached sources
    private SharedContentIndex? _index;

    public int Count => _items.Count;

    /// <summary>Contents the host still had.</summary>
    public int FoundOnHost { get; private set; }

    /// <summary>
    /// Defines the next content. Returns the host's shared page with this content (a reference held by
    /// the table), or <see cref="PageId.Nil"/> when the host has none or the VM does not share pages; the
    /// caller then stages the bytes and names the page with <see cref="SetSource"/>.
    /// </summary>
    public PageId Define(ulong hash, ReadOnlySpan<byte> page)
    {
        PageId shared = PageId.Nil;
        if (vm.Options.PageSharing)
        {
            _index ??= SharedContentIndex.Build(vm.Manager, vm.Options.SharingDomain);
            shared = _index.TryTake(vm.Manager.Pages, vm.Handle, hash, page);
        }
        _items.Add((shared, PageId.Nil));
        if (!shared.IsNil)
        {
            FoundOnHost++;
            _held.Add(shared);
        }
        return shared;
    }

    public void SetSource(int index, PageId page)
    {
        _items[index] = (PageId.Nil, page);
        _sourceOf[page.Value] = index;
    }

    public PageId HostShared(int index) => _items[index].HostShared;

    public PageId Source(int index) => _items[index].Source;

    /// <summary>True when later references copy from this staged page: it must not be overwritten in place.</summary>
    public bool IsSource(PageId page) => _sourceOf.ContainsKey(page.Value);

    /// <summary>
    /// A staged private page stops backing its guest page: returns true (and keeps the page) when it is
    /// a content's source, false when the caller may reuse or return it.
    /// </summary>
    public bool Detach(PageId page)
    {
        if (!_sourceOf.Remove(page.Value)) return false;
        _held.Add(page);
        return true;
    }

    /// <summary>Drops the table's own references and frees detached sources (the guest pages' own references stay).</summary>
    public void Release()
    {
        vm.Manager.Pages.FreePages(vm.Handle, GmmAccount.Base, CollectionsMarshal.AsSpan(_held));
        _held.Clear();
    }
}
