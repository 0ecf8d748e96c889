namespace GuestMemory.Gmm;

public sealed unsafe partial class PageManager
{
    /// <summary>
    /// Registers a VM with its initial reservation, policy and priority (seed: GMMR0InitialReservation).
    /// The reservation is declined when it breaks the over-commit policy: all reservations together may
    /// exceed the host by <see cref="GmmOptions.OvercommitRatio"/>, and the reservations of
    /// <see cref="OvercommitPolicy.NoOvercommit"/> VMs must fit the host outright.
    /// </summary>
    public VmHandle RegisterVm(string name, AccountPages reservation, OvercommitPolicy policy = OvercommitPolicy.Overcommit, VmPriority priority = VmPriority.Normal) =>
        RegisterVm(name, reservation, policy, priority, managed: false);

    /// <summary>Registers a VM; <paramref name="managed"/> is true for a VM of <see cref="GlobalMemoryManager.CreateVm"/>, whose pages the host entry points refuse to change.</summary>
    /// <param name="name">A name for tools.</param>
    /// <param name="reservation">The initial reservation.</param>
    /// <param name="policy">Over-commit policy.</param>
    /// <param name="priority">Priority.</param>
    /// <param name="managed">Whether its guest-physical memory owns its pages.</param>
    internal VmHandle RegisterVm(string name, AccountPages reservation, OvercommitPolicy policy, VmPriority priority, bool managed)
    {
        ArgumentNullException.ThrowIfNull(name);
        CheckReservationShape(reservation);
        if (policy is not (OvercommitPolicy.NoOvercommit or OvercommitPolicy.Overcommit)) throw new GmmException(GmmError.InvalidArgument, $"unknown policy {policy}");
        if (priority is not (VmPriority.Low or VmPriority.Normal or VmPriority.High)) throw new GmmException(GmmError.InvalidArgument, $"unknown priority {priority}");
        using (_lock.EnterScope())
        {
            if (_disposed) throw new ObjectDisposedException(nameof(PageManager));
            CheckReservationFits(reservation.Total, policy == OvercommitPolicy.NoOvercommit ? reservation.Total : 0);
            int slot = FreeVmSlot();
            var vm = new GmmVm(new VmHandle((ushort)slot, checked(++_lastGeneration)), name, _options.Placement.VmAffinity ? null : _commonSet) { Policy = policy, Priority = priority, Managed = managed };
            SetReservation(vm, reservation);
            _vms[slot] = vm;
            _vmCount++;
            return vm.Handle;
        }
    }

    /// <summary>
    /// Changes a VM's reservation (seed: GMMR0UpdateReservation). It may go below what is allocated; the
    /// VM then cannot allocate in that account until it has freed enough.
    /// </summary>
    public void UpdateReservation(VmHandle vm, AccountPages reservation)
    {
        CheckReservationShape(reservation);
        using (_lock.EnterScope())
        {
            GmmVm owner = GetVm(vm);
            long delta = reservation.Total - owner.ReservedPages.Total;
            CheckReservationFits(delta, owner.Policy == OvercommitPolicy.NoOvercommit ? delta : 0);
            SetReservation(owner, reservation);
        }
    }

    /// <summary>Changes a VM's priority (the balloon controller weighs it).</summary>
    public void SetPriority(VmHandle vm, VmPriority priority)
    {
        if (priority is not (VmPriority.Low or VmPriority.Normal or VmPriority.High)) throw new GmmException(GmmError.InvalidArgument, $"unknown priority {priority}");
        using (_lock.EnterScope()) GetVm(vm).Priority = priority;
    }

    /// <summary>
    /// Unregisters a VM (seed: GMMR0CleanupVM): frees its private pages wherever they are, drops its
    /// shared references, empties its balloon and gives emptied chunks back to the host.
    /// </summary>
    internal void DestroyVmCore(VmHandle vm)
    {
        using (_lock.EnterScope())
        {
            GmmVm owner = GetVm(vm);
            foreach ((uint page, int count) in owner.SharedRefs.ToArray())
            {
                var id = new PageId(page);
                Chunk chunk = _chunks[id.ChunkId]!;
                for (int i = 0; i < count; i++) DropSharedReference(owner, chunk, id, alreadyUncounted: false);
            }
            foreach (Chunk chunk in _chunks.All().ToArray())
            {
                // Pages of this VM may sit in any chunk (fallback allocation), so look at every one.
                for (int index = 0; index < Paging.PagesPerChunk && chunk.PrivateCount > 0; index++)
                {
                    ulong word = chunk.Pages[index];
                    if (PageWord.State(word) != HostPageState.Private || PageWord.Vm(word) != vm.Value) continue;
                    owner.Private[(int)PageWord.Account(word)]--;
                    _privatePages--;
                    FreePrivatePage(chunk, index);
                }
                if (chunk.Set == owner.Affinity && chunk.Set != _commonSet)
                {
                    // What is left here belongs to other VMs: the chunk loses its affinity.
                    owner.Affinity.Remove(chunk);
                    _orphanSet.Add(chunk);
                }
            }
            _ballooned -= owner.Ballooned;
            _reservedPages -= owner.ReservedPages.Total;
            if (owner.Policy == OvercommitPolicy.NoOvercommit) _noOvercommitReserved -= owner.ReservedPages.Total;
            _vms[vm.Value] = null;
            _noFreeVmSlotBelow = Math.Min(_noFreeVmSlotBelow, vm.Value);
            _vmCount--;
        }
    }

    /// <inheritdoc/>
    /// <remarks>
    /// In-process every chunk is always at <c>Host.ChunkAddress(id)</c>; the mapping records are kept
    /// so that a host driving the Gmm as a service sees the seed's rules (no double map, no stray unmap).
    /// </remarks>
    public nint MapUnmapChunk(VmHandle vm, int mapChunk, int unmapChunk)
    {
        using (_lock.EnterScope())
        {
            GmmVm owner = GetVm(vm);
            if (mapChunk == 0 && unmapChunk == 0) throw new GmmException(GmmError.InvalidArgument, "neither a chunk to map nor one to unmap");
            if (mapChunk != 0)
            {
                if (_chunks[mapChunk] == null) throw new GmmException(GmmError.ChunkNotFound, $"chunk {mapChunk} is not live");
                if (owner.MappedChunks.Contains(mapChunk) && mapChunk != unmapChunk) throw new GmmException(GmmError.ChunkAlreadyMapped, $"chunk {mapChunk} is already mapped into {vm}");
            }
            if (unmapChunk != 0)
            {
                if (_chunks[unmapChunk] == null) throw new GmmException(GmmError.ChunkNotFound, $"chunk {unmapChunk} is not live");
                if (!owner.MappedChunks.Contains(unmapChunk)) throw new GmmException(GmmError.ChunkNotMapped, $"chunk {unmapChunk} is not mapped into {vm}");
                owner.MappedChunks.Remove(unmapChunk);
            }
            if (mapChunk == 0) return 0;
            owner.MappedChunks.Add(mapChunk);
            return (nint)Host.ChunkAddress(mapChunk);
        }
    }

    private static void CheckReservationShape(AccountPages r)
    {
        // Each figure is bounded on its own, so that the sum cannot wrap around to something plausible.
        const long MostPagesPerAccount = 1L << 40;
        if (r.Base is < 0 or > MostPagesPerAccount || r.Shadow is < 0 or > MostPagesPerAccount || r.Fixed is < 0 or > MostPagesPerAccount || r.Total is <= 0 or > MostPagesPerAccount)
            throw new GmmException(GmmError.InvalidArgument, $"reservation {r} must be non-negative, not all zero and below 2^40 pages");
    }

    private void CheckReservationFits(long deltaAll, long deltaNoOvercommit)
    {
        long limit = (long)(MaxPages * _options.OvercommitRatio);
        if (_reservedPages + deltaAll > limit)
            throw new GmmException(GmmError.ReservationDeclined,
                $"{_reservedPages} + {deltaAll} reserved pages would exceed {_options.OvercommitRatio:0.##} x the host's {MaxPages} pages");
        if (_noOvercommitReserved + deltaNoOvercommit > MaxPages)
            throw new GmmException(GmmError.ReservationDeclined,
                $"VMs that may not be over-committed would reserve {_noOvercommitReserved + deltaNoOvercommit} pages, more than the host's {MaxPages}");
    }

    private void SetReservation(GmmVm vm, AccountPages r)
    {
        long old = vm.ReservedPages.Total;
        _reservedPages += r.Total - old;
        if (vm.Policy == OvercommitPolicy.NoOvercommit) _noOvercommitReserved += r.Total - old;
        vm.Reserved[0] = r.Base;
        vm.Reserved[1] = r.Shadow;
        vm.Reserved[2] = r.Fixed;
    }

    /// <summary>The lowest free VM slot (handles are reused lowest first, as chunk ids are).</summary>
    private int FreeVmSlot()
    {
        for (int slot = _noFreeVmSlotBelow; slot < _vms.Length; slot++)
            if (_vms[slot] == null) return _noFreeVmSlotBelow = slot;
        if (_vms.Length > ushort.MaxValue) throw new GmmException(GmmError.TooManyVms, "65,535 VMs are registered");
        int free = _vms.Length;
        Array.Resize(ref _vms, Math.Min(_vms.Length * 2, ushort.MaxValue + 1));
        return _noFreeVmSlotBelow = free;
    }
}
