namespace GuestMemory.Gmm;

/// <summary>What the Gmm knows about one host page, decoded from its state word.</summary>
public readonly record struct HostPageInfo(HostPageState State, VmHandle Owner, GmmAccount Account, ulong GuestFrame, uint References, uint Checksum);

public sealed partial class PageManager
{
    /// <summary>Decodes a live page's state word (for the cross-layer consistency check and tools).</summary>
    /// <exception cref="GmmException"><see cref="GmmError.PageNotFound"/> when the page is in no live chunk.</exception>
    public HostPageInfo InspectPage(PageId page)
    {
        using (_lock.EnterScope())
        {
            ulong word = Find(page).Word;
            return PageWord.State(word) switch
            {
                HostPageState.Private => new HostPageInfo(HostPageState.Private, HandleOfSlot(PageWord.Vm(word)), PageWord.Account(word), PageWord.GuestFrame(word), 0, 0),
                HostPageState.Shared => new HostPageInfo(HostPageState.Shared, VmHandle.Nil, GmmAccount.Base, PageWord.NilGuestFrame, PageWord.References(word), PageWord.Checksum(word)),
                _ => new HostPageInfo(HostPageState.Free, VmHandle.Nil, GmmAccount.Base, PageWord.NilGuestFrame, 0, 0),
            };
        }
    }

    /// <summary>A copy of the VM's shared references: shared page id → count.</summary>
    public IReadOnlyDictionary<PageId, int> GetSharedReferences(VmHandle vm)
    {
        using (_lock.EnterScope())
            return GetVm(vm).SharedRefs.ToDictionary(kv => new PageId(kv.Key), kv => kv.Value);
    }
}
