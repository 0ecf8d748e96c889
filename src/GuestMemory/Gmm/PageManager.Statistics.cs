namespace GuestMemory.Gmm;

public sealed partial class PageManager
{
    /// <summary>A consistent snapshot of the global figures (seed: GMMR0QueryStatistics).</summary>
    public GmmStatistics GetStatistics()
    {
        using (_lock.EnterScope())
        {
            return new GmmStatistics
            {
                MaxPages = MaxPages,
                ReservedPages = _reservedPages,
                AllocatedPages = AllocatedHostPages,
                PrivatePages = _privatePages,
                SharedPages = _sharedPages,
                DuplicatePages = _sharedReferences - _sharedPages,
                BalloonedPages = _ballooned,
                FreePages = TotalFreePages(),
                Chunks = _chunks.Count,
                SpareChunks = _spareChunks.Count,
                FreedChunks = _freedChunks,
                DiscardedFreePages = _chunks.All().Sum(c => (long)c.DiscardedCount),
                DiscardedPagesTotal = _discardedPages,
                Vms = _vmCount,
            };
        }
    }

    /// <summary>A consistent snapshot of one VM's figures.</summary>
    public GmmVmStatistics GetVmStatistics(VmHandle vm)
    {
        using (_lock.EnterScope())
        {
            GmmVm v = GetVm(vm);
            return new GmmVmStatistics
            {
                Handle = v.Handle,
                Name = v.Name,
                Reserved = v.ReservedPages,
                Allocated = v.AllocatedPages,
                PrivatePages = v.Private[0] + v.Private[1] + v.Private[2],
                SharedPages = v.SharedReferences,
                BalloonedPages = v.Ballooned,
                RequestedBalloonPages = v.RequestedBalloon,
                ActuallyBalloonedPages = v.ActuallyBallooned,
                RequestedDeflatePages = v.RequestedDeflate,
                Policy = v.Policy,
                Priority = v.Priority,
            };
        }
    }

    /// <summary>Every live VM's handle.</summary>
    public IReadOnlyList<VmHandle> GetVmHandles()
    {
        using (_lock.EnterScope())
            return _vms.Where(v => v != null).Select(v => v!.Handle).ToArray();
    }
}
