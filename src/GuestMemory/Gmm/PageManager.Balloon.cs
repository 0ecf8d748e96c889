namespace GuestMemory.Gmm;

public sealed partial class PageManager
{
    /// <summary>
    /// The host asks the VM's balloon to reach <paramref name="targetPages"/> (seed: the requested side of
    /// the balloon statistics). Sets an inflate or a deflate request; progress is counted as the guest reports.
    /// </summary>
    public void RequestBalloon(VmHandle vm, long targetPages)
    {
        using (_lock.EnterScope())
        {
            GmmVm owner = GetVm(vm);
            if (targetPages < 0 || targetPages > owner.Reserved[0])
                throw new GmmException(GmmError.InvalidArgument, $"balloon target {targetPages} is outside 0..{owner.Reserved[0]} (the base reservation)");
            owner.RequestedBalloon = Math.Max(0, targetPages - owner.Ballooned);
            owner.ActuallyBallooned = 0;
            owner.RequestedDeflate = Math.Max(0, owner.Ballooned - targetPages);
        }
    }

    internal void BalloonedPagesCore(VmHandle vm, long ballooned, ReadOnlySpan<PageId> pagesToFree, bool completed)
    {
        if (ballooned < 0 || pagesToFree.Length > ballooned)
            throw new GmmException(GmmError.InvalidArgument, $"{pagesToFree.Length} pages to free for {ballooned} ballooned pages");
        using (_lock.EnterScope())
        {
            GmmVm owner = GetVm(vm);
            CheckBalloonFits(owner, ballooned, pagesToFree.Length);
            ValidateFree(owner, GmmAccount.Base, pagesToFree);
            foreach (PageId page in pagesToFree)
            {
                Chunk chunk = _chunks[page.ChunkId]!;
                if (PageWord.State(chunk.Pages[page.Index]) == HostPageState.Private)
                {
                    FreePrivatePage(chunk, page.Index);
                    owner.Private[0]--;
                    _privatePages--;
                }
                else DropSharedReference(owner, chunk, page, alreadyUncounted: true);
            }
            CountBallooned(owner, ballooned, completed);
        }
    }

    internal void BalloonedPagesFreedLaterCore(VmHandle vm, long ballooned, long pagesFreedLater, bool completed)
    {
        if (ballooned < 0 || pagesFreedLater < 0)
            throw new GmmException(GmmError.InvalidArgument, $"{pagesFreedLater} pages freed later for {ballooned} ballooned pages");
        using (_lock.EnterScope())
        {
            GmmVm owner = GetVm(vm);
            if (pagesFreedLater > owner.Allocated(GmmAccount.Base))
                throw new GmmException(GmmError.AttemptToFreeTooMuch, $"{owner.Handle} has {owner.Allocated(GmmAccount.Base)} base pages allocated, not {pagesFreedLater} to free later");
            CheckBalloonFits(owner, ballooned, pagesFreedLater);
            CountBallooned(owner, ballooned, completed);
        }
    }

    /// <summary>After the call, allocated + ballooned must still fit the base reservation (seed: "attempt to free too much").</summary>
    private static void CheckBalloonFits(GmmVm owner, long ballooned, long freed)
    {
        long allocated = owner.Allocated(GmmAccount.Base) - freed;
        if (allocated + owner.Ballooned + ballooned > owner.Reserved[0])
            throw new GmmException(GmmError.AttemptToFreeTooMuch,
                $"{owner.Handle} would have {owner.Ballooned + ballooned} ballooned plus {allocated} allocated pages, more than its {owner.Reserved[0]} base pages");
    }

    private void CountBallooned(GmmVm owner, long ballooned, bool completed)
    {
        owner.Ballooned += ballooned;
        _ballooned += ballooned;
        if (owner.RequestedBalloon > 0) owner.ActuallyBallooned += ballooned;
        if (completed || (owner.RequestedBalloon > 0 && owner.ActuallyBallooned >= owner.RequestedBalloon))
            owner.RequestedBalloon = owner.ActuallyBallooned = 0;
    }

    internal void DeflatedBalloonCore(VmHandle vm, long pages)
    {
        if (pages < 0) throw new GmmException(GmmError.InvalidArgument, $"cannot deflate {pages} pages");
        using (_lock.EnterScope())
        {
            GmmVm owner = GetVm(vm);
            if (pages > owner.Ballooned)
                throw new GmmException(GmmError.AttemptToDeflateTooMuch, $"{owner.Handle} has {owner.Ballooned} ballooned pages, cannot deflate {pages}");
            owner.Ballooned -= pages;
            _ballooned -= pages;
            owner.RequestedDeflate = Math.Max(0, owner.RequestedDeflate - pages);
        }
    }

    internal void ResetBalloonCore(VmHandle vm)
    {
        using (_lock.EnterScope())
        {
            GmmVm owner = GetVm(vm);
            _ballooned -= owner.Ballooned;
            owner.Ballooned = owner.RequestedBalloon = owner.ActuallyBallooned = owner.RequestedDeflate = 0;
        }
    }
}
