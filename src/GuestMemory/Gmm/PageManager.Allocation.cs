using System.Runtime.InteropServices;
using System.Runtime.CompilerServices;

namespace GuestMemory.Gmm;

public sealed unsafe partial class PageManager
{
    internal void AllocatePagesCore(VmHandle vm, GmmAccount account, Span<PageDescriptor> pages, bool zero)
    {
        CheckAccount(account);
        if (pages.Length == 0) throw new GmmException(GmmError.InvalidArgument, "no pages to allocate");
        foreach (ref readonly PageDescriptor d in pages)
            if (d.GuestFrame > PageWord.NilGuestFrame)
                throw new GmmException(GmmError.InvalidArgument, $"guest frame {d.GuestFrame:x} is beyond 2^40");
        using (_lock.EnterScope())
        {
            GmmVm owner = GetVm(vm);
            CheckLimits(owner, account, pages.Length);
            AllocatePrivate(owner, account, pages);
        }
        if (zero) ZeroWhereNeeded(pages);
    }

    internal int AllocateHandyPagesCore(VmHandle vm, ReadOnlySpan<PageDescriptor> updates, Span<PageDescriptor> newPages)
    {
        int granted;
        using (_lock.EnterScope())
        {
            GmmVm owner = GetVm(vm);
            foreach (ref readonly PageDescriptor u in updates)
            {
                (Chunk _, ulong word) = Find(u.Page);
                if (PageWord.State(word) != HostPageState.Private) throw new GmmException(GmmError.PageNotPrivate, $"{u.Page} is not a private page");
                if (PageWord.Vm(word) != vm.Value || PageWord.Account(word) != GmmAccount.Base)
                    throw new GmmException(GmmError.NotPageOwner, $"{u.Page} is not a base page of {vm}");
                if (u.GuestFrame > PageWord.NilGuestFrame) throw new GmmException(GmmError.InvalidArgument, $"guest frame {u.GuestFrame:x} is beyond 2^40");
            }
            long room = Math.Min(owner.Headroom(GmmAccount.Base), MaxPages - AllocatedHostPages);
            granted = (int)Math.Clamp(room, 0, newPages.Length);
            if (granted == 0 && newPages.Length > 0) CheckLimits(owner, GmmAccount.Base, 1); // throws the right error
            if (granted > 0) EnsureCapacity(owner.Affinity, granted);

            foreach (ref readonly PageDescriptor u in updates)
            {
                Chunk chunk = _chunks[u.Page.ChunkId]!;
                chunk.Pages[u.Page.Index] = PageWord.WithGuestFrame(chunk.Pages[u.Page.Index], u.GuestFrame);
            }
            Span<PageDescriptor> output = newPages[..granted];
            foreach (ref PageDescriptor d in output) d.GuestFrame = PageWord.NilGuestFrame;
            if (granted > 0) AllocatePrivate(owner, GmmAccount.Base, output);
        }
        return granted;
    }

    internal void FreePagesCore(VmHandle vm, GmmAccount account, ReadOnlySpan<PageId> pages)
    {
        CheckAccount(account);
        using (_lock.EnterScope())
        {
            GmmVm owner = GetVm(vm);
            ValidateFree(owner, account, pages);
            FreeValidated(owner, account, pages);
        }
    }

    /// <summary>Frees a batch <see cref="ValidateFree"/> accepted: private pages go back to their chunks, shared references are dropped.</summary>
    private void FreeValidated(GmmVm owner, GmmAccount account, ReadOnlySpan<PageId> pages)
    {
        long freedPrivate = 0;
        foreach (PageId page in pages)
        {
            Chunk chunk = _chunks[page.ChunkId]!;
            if (PageWord.State(chunk.Pages[page.Index]) == HostPageState.Private)
            {
                FreePrivatePage(chunk, page.Index);
                freedPrivate++;
            }
            else
            {
                DropSharedReference(owner, chunk, page, alreadyUncounted: true);
            }
        }
        // The account counters move once per batch, not once per page.
        owner.Private[(int)account] -= freedPrivate;
        _privatePages -= freedPrivate;
    }

    /// <summary>
    /// Checks a whole batch before anything changes: each page live, private to this VM and account (or a
    /// shared page the VM references), and no private page twice. Marks are set while checking and
    /// cleared again; shared references are counted down tentatively and restored on failure.
    /// </summary>
    private void ValidateFree(GmmVm owner, GmmAccount account, ReadOnlySpan<PageId> pages)
    {
        int done = 0;
        try
        {
            for (; done < pages.Length; done++)
            {
                PageId page = pages[done];
                (Chunk chunk, ulong word) = Find(page);
                // The common case inline, the rest (shared pages, every error) in a call of its own.
                if (word == PageWord.Private(owner.Handle.Value, account, PageWord.GuestFrame(word)))
                    chunk.Pages[page.Index] = PageWord.Mark(word);
                else
                    ValidateUncommonFree(owner, account, chunk, page, word);
            }
        }
        catch
        {
            for (int i = 0; i < done; i++)
            {
                PageId page = pages[i];
                Chunk chunk = _chunks[page.ChunkId]!;
                ulong word = chunk.Pages[page.Index];
                if (PageWord.State(word) == HostPageState.Private) chunk.Pages[page.Index] = PageWord.Unmark(word);
                else CollectionsMarshal.GetValueRefOrNullRef(owner.SharedRefs, page.Value)++;
            }
            throw;
        }
    }

    /// <summary>Every page of a free batch that is not an unmarked private page of this VM and account.</summary>
    private static void ValidateUncommonFree(GmmVm owner, GmmAccount account, Chunk chunk, PageId page, ulong word)
    {
        switch (PageWord.State(word))
        {
            case HostPageState.Free:
                throw new GmmException(GmmError.PageAlreadyFree, $"{page} is already free");
            case HostPageState.Private:
                if (PageWord.IsMarked(word)) throw new GmmException(GmmError.PageAlreadyFree, $"{page} is freed twice in one batch");
                if (PageWord.Vm(word) != owner.Handle.Value) throw new GmmException(GmmError.NotPageOwner, $"{page} belongs to vm:{PageWord.Vm(word)}, not {owner.Handle}");
                if (PageWord.Account(word) != account) throw new GmmException(GmmError.NotPageOwner, $"{page} is in the {PageWord.Account(word)} account, not {account}");
                chunk.Pages[page.Index] = PageWord.Mark(word); // normally done inline; kept so this check is complete on its own
                break;
            default:
                if (account != GmmAccount.Base) throw new GmmException(GmmError.NotPageOwner, $"shared {page} can only be freed from the base account");
                ref int refs = ref CollectionsMarshal.GetValueRefOrNullRef(owner.SharedRefs, page.Value);
                if (Unsafe.IsNullRef(ref refs) || refs == 0) throw new GmmException(GmmError.NotPageOwner, $"{owner.Handle} holds no (more) references to shared {page}");
                refs--;
                break;
        }
    }

    private void CheckLimits(GmmVm vm, GmmAccount account, long count)
    {
        if (AllocatedHostPages + count > MaxPages)
            throw new GmmException(GmmError.HitGlobalLimit, $"{count} more pages would exceed the host limit of {MaxPages} pages ({AllocatedHostPages} in use)");
        if (count > vm.Headroom(account))
            throw new GmmException(GmmError.HitVmAccountLimit,
                $"{vm.Handle} {account}: allocated {vm.Allocated(account)}{(account == GmmAccount.Base ? $" + ballooned {vm.Ballooned}" : "")} + {count} > reserved {vm.Reserved[(int)account]}");
    }

    private static void CheckAccount(GmmAccount account)
    {
        if ((uint)account > (uint)GmmAccount.Fixed) throw new GmmException(GmmError.InvalidArgument, $"unknown account {account}");
    }

    /// <summary>Takes pages for a VM's account; limits and capacity are checked by the caller.</summary>
    private void AllocatePrivate(GmmVm vm, GmmAccount account, Span<PageDescriptor> pages)
    {
        EnsureCapacity(vm.Affinity, pages.Length);
        int i = 0;
        while (i < pages.Length)
        {
            Chunk chunk = NextChunk(vm.Affinity);
            int before = chunk.FreeCount;
            Span<ulong> words = chunk.Pages;
            for (; i < pages.Length && chunk.FreeCount > 0; i++)
            {
                ref PageDescriptor d = ref pages[i];
                int index = chunk.PopFree(out bool zeroed);
                words[index] = PageWord.Private(vm.Handle.Value, account, d.GuestFrame);
                d.Page = PageId.From(chunk.Id, index);
                d.Zeroed = zeroed;
            }
            int taken = before - chunk.FreeCount;
            chunk.PrivateCount += taken;
            chunk.Set!.Update(chunk, -taken);
        }
        vm.Private[(int)account] += pages.Length;
        _privatePages += pages.Length;
    }

    /// <summary>Clears the pages not already known to be zero (outside the lock: they are the caller's now).</summary>
    private void ZeroWhereNeeded(Span<PageDescriptor> pages)
    {
        foreach (ref PageDescriptor d in pages)
        {
            if (d.Zeroed) continue;
            new Span<byte>(Host.PageAddress(d.Page), Paging.PageSize).Clear();
            d.Zeroed = true;
        }
    }

    private void FreePrivatePage(Chunk chunk, int index)
    {
        chunk.PushFree(index, zeroed: false);
        chunk.PrivateCount--;
        FreedInChunk(chunk);
    }

    private void FreedInChunk(Chunk chunk)
    {
        chunk.Set!.Update(chunk, +1);
        if (chunk.IsEmpty) ChunkBecameEmpty(chunk);
    }
}
