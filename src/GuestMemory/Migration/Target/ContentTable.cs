using System.Runtime.InteropServices;
using GuestMemory.Gmm;

namespace GuestMemory.Migration.Target;

/// <summary>
/// The contents the target promised the source for the image being received: content key → a shared
/// page holding exactly that content, with one reference held by this table (taken for the incoming VM),
/// so the page cannot be freed, let alone reused, before the CONTENT_REF records that name it arrive.
/// </summary>
/// <remarks>
/// Every page entered here was checked: its bytes hashed to the full key when it was found or made. The
/// table lets go of its references when the image is committed (the staged entries hold their own) or
/// discarded. Owned by the session's thread.
/// </remarks>
internal sealed class ContentTable(VirtualMachine vm)
{
    private readonly Dictionary<ContentKey, PageId> _pages = [];

    /// <summary>Contents promised so far.</summary>
    public int Count => _pages.Count;

    public bool Contains(ContentKey key) => _pages.ContainsKey(key);

    /// <summary>Takes over one reference to <paramref name="shared"/>, whose content has <paramref name="key"/>.</summary>
    public void Add(ContentKey key, PageId shared)
    {
        if (!_pages.TryAdd(key, shared)) vm.Manager.Pages.Port.FreePages(vm.Handle, GmmAccount.Base, [shared]); // already promised: keep one reference
    }

    /// <summary>The page promised for <paramref name="key"/>.</summary>
    /// <exception cref="GmmException"><see cref="GmmError.MigrationStreamCorrupt"/>: the source names a content never promised.</exception>
    public PageId this[ContentKey key] =>
        _pages.TryGetValue(key, out PageId page) ? page : throw MigrationErrors.Corrupt($"a CONTENT_REF names content {key}, which the target never promised");

    /// <summary>Drops the table's references (the VM may be gone: then the Gmm dropped them with it).</summary>
    public void Release()
    {
        if (_pages.Count == 0) return;
        PageId[] pages = [.. _pages.Values];
        _pages.Clear();
        try
        {
            vm.Manager.Pages.Port.FreePages(vm.Handle, GmmAccount.Base, pages);
        }
        catch (GmmException e) when (e.Error == GmmError.VmNotFound)
        {
            // destroyed: its references went with it
        }
    }
}
