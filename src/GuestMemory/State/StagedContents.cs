using System.Runtime.InteropServices;
using GuestMemory.Gmm;

namespace GuestMemory.State;

/// <summary>
/// The shared contents a restore has read, by index: for each, either a shared page the host already
/// had (found through <see cref="SharedContentIndex"/>, with a reference held by this table while the
/// content can still be referred to, so the page cannot be freed and reused meanwhile), or, when the
/// host has none, the staged private page that first received the bytes (its "source"), from which
/// later references are copied: those come back as private pages.
/// </summary>
/// <remarks>
/// A SHARED_REF names a content of its own pass only. Since a pass covers every page exactly once, no
/// record can overwrite a source while its content can still be referred to; at the next PASS the
/// table lets go of everything it holds. Owned by one restore; not thread-safe.
/// </remarks>
internal sealed class StagedContents(VirtualMachine vm)
{
    private readonly List<(PageId HostShared, PageId Source)> _items = [];
    private readonly List<PageId> _held = []; // this table's references to host shared pages
    private SharedContentIndex? _index;
    private int _passFirst;

    public int Count => _items.Count;

    /// <summary>Contents the host still had.</summary>
    public int FoundOnHost { get; private set; }

    /// <summary>True when a SHARED_REF may name content <paramref name="index"/>: it was defined in the current pass.</summary>
    public bool IsReferable(uint index) => index >= _passFirst && index < _items.Count;

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

    public void SetSource(int index, PageId page) => _items[index] = (PageId.Nil, page);

    public PageId HostShared(int index) => _items[index].HostShared;

    public PageId Source(int index) => _items[index].Source;

    /// <summary>A new pass: the earlier contents can no longer be referred to, so the table drops its references.</summary>
    public void BeginPass()
    {
        Release();
        _passFirst = _items.Count;
    }

    /// <summary>Drops the table's own references (the guest pages' own references stay).</summary>
    public void Release()
    {
        vm.Manager.Pages.Port.FreePages(vm.Handle, GmmAccount.Base, CollectionsMarshal.AsSpan(_held));
        _held.Clear();
    }
}
