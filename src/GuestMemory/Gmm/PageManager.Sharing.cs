using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace GuestMemory.Gmm;

public sealed unsafe partial class PageManager
{
    /// <inheritdoc/>
    /// <remarks>
    /// Neither this nor <see cref="AddSharedReference"/> checks the VM's base account: a reference
    /// replaces a private page that the caller frees right after, so the guest's footprint does not grow.
    /// The host limit is checked, since a new shared page is a new host page until the duplicates go.
    /// </remarks>
    internal PageId AllocateSharedPageCore(VmHandle vm, uint checksum)
    {
        using (_lock.EnterScope())
        {
            GmmVm owner = GetVm(vm);
            if (AllocatedHostPages + 1 > MaxPages)
                throw new GmmException(GmmError.HitGlobalLimit, $"a new shared page would exceed the host limit of {MaxPages} pages");
            FreeSet set = _options.Placement.SharedChunks ? _sharedSet : owner.Affinity;
            EnsureCapacity(set, 1);
            Chunk chunk = NextChunk(set);
            int index = chunk.PopFree(out _);
            chunk.Pages[index] = PageWord.Shared(1, checksum);
            chunk.SharedCount++;
            chunk.Set!.Update(chunk, -1);
            _sharedPages++;
            PageId page = PageId.From(chunk.Id, index);
            CountReference(owner, page);
            return page;
        }
    }

    internal void AddSharedReferenceCore(VmHandle vm, PageId shared) => AddSharedReferences(vm, shared, 1);

    /// <summary>Adds <paramref name="count"/> references of <paramref name="vm"/> to a shared page at once, or none (the compactor switches many entries to one page).</summary>
    internal void AddSharedReferences(VmHandle vm, PageId shared, int count)
    {
        using (_lock.EnterScope())
        {
            GmmVm owner = GetVm(vm);
            (Chunk chunk, ulong word) = Find(shared);
            if (PageWord.State(word) != HostPageState.Shared) throw new GmmException(GmmError.PageNotShared, $"{shared} is not a shared page");
            uint refs = PageWord.References(word);
            if (refs + (uint)count > PageWord.MaxReferences) throw new GmmException(GmmError.InvalidArgument, $"{shared} cannot hold {count} more references");
            chunk.Pages[shared.Index] = PageWord.Shared(refs + (uint)count, PageWord.Checksum(word));
            CountReference(owner, shared, count);
        }
    }

    /// <summary>The stored checksum and reference count of a shared page.</summary>
    public (uint Checksum, uint References) GetSharedPageInfo(PageId shared)
    {
        using (_lock.EnterScope())
        {
            ulong word = Find(shared).Word;
            if (PageWord.State(word) != HostPageState.Shared) throw new GmmException(GmmError.PageNotShared, $"{shared} is not a shared page");
            return (PageWord.Checksum(word), PageWord.References(word));
        }
    }

    private void CountReference(GmmVm owner, PageId page, int count = 1)
    {
        CollectionsMarshal.GetValueRefOrAddDefault(owner.SharedRefs, page.Value, out _) += count;
        owner.SharedReferences += count;
        _sharedReferences += count;
    }

    /// <summary>Drops one reference; the last one frees the page. The VM's map entry may already be counted down.</summary>
    private void DropSharedReference(GmmVm owner, Chunk chunk, PageId page, bool alreadyUncounted)
    {
        ref int mine = ref CollectionsMarshal.GetValueRefOrNullRef(owner.SharedRefs, page.Value);
        if (!alreadyUncounted) mine--;
        // A batch may drop several references to one page: once the count reached zero the entry is gone.
        if (!Unsafe.IsNullRef(ref mine) && mine == 0) owner.SharedRefs.Remove(page.Value);
        owner.SharedReferences--;
        _sharedReferences--;
        ulong word = chunk.Pages[page.Index];
        uint refs = PageWord.References(word) - 1;
        if (refs > 0)
        {
            chunk.Pages[page.Index] = PageWord.Shared(refs, PageWord.Checksum(word));
            return;
        }
        chunk.PushFree(page.Index, zeroed: false);
        chunk.SharedCount--;
        _sharedPages--;
        FreedInChunk(chunk);
    }
}
