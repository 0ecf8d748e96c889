using GuestMemory.Gmm;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Gmm.Model;

/// <summary>The VM operations: balloon, reservation, create/destroy, priority, chunk mapping, and calls on a VM that is gone.</summary>
internal sealed partial class GmmModelTest
{
    private void Balloon(BalloonOp op, ModelVm vm)
    {
        var pick = new Random(op.Pick);
        List<PageId> toFree = vm.Private[0].Pick(pick, op.FreeCount);
        toFree.AddRange(PickList<PageId>.Sample(vm.ReferenceList(), pick, op.FreeCount - toFree.Count));
        long allocatedAfter = vm.Allocated(GmmAccount.Base) - toFree.Count;
        long ballooned = op.OverLimit ? Math.Max(toFree.Count, vm.Reserved.Base - allocatedAfter - vm.Ballooned + 1) : op.Ballooned;
        Expected expected = ballooned < 0 || toFree.Count > ballooned ? Expected.Failure(GmmError.InvalidArgument)
            : allocatedAfter + vm.Ballooned + ballooned > vm.Reserved.Base ? Expected.Failure(GmmError.AttemptToFreeTooMuch)
            : Expected.Success;

        if (Attempt("balloon", expected, () => _gmm.BalloonedPages(vm.Handle, ballooned, toFree.ToArray(), op.Completed), toFree) != null) return;
        ReleasePages(op.Vm, toFree);
        vm.Ballooned += ballooned;
        if (vm.RequestedBalloon > 0) vm.ActuallyBallooned += ballooned;
        if (op.Completed || (vm.RequestedBalloon > 0 && vm.ActuallyBallooned >= vm.RequestedBalloon)) vm.RequestedBalloon = vm.ActuallyBallooned = 0;
    }

    private void Deflate(DeflateOp op, ModelVm vm)
    {
        long pages = op.TooMany ? vm.Ballooned + 1 + Math.Max(0, op.Pages) : Math.Min(op.Pages, vm.Ballooned);
        Expected expected = pages < 0 ? Expected.Failure(GmmError.InvalidArgument)
            : pages > vm.Ballooned ? Expected.Failure(GmmError.AttemptToDeflateTooMuch)
            : Expected.Success;

        if (Attempt("deflate", expected, () => _gmm.DeflatedBalloon(vm.Handle, pages)) != null) return;
        vm.Ballooned -= pages;
        vm.RequestedDeflate = Math.Max(0, vm.RequestedDeflate - pages);
    }

    private void RequestBalloon(RequestBalloonOp op, ModelVm vm)
    {
        long target = vm.Reserved.Base * op.TargetPercent / 100;
        Expected expected = target < 0 || target > vm.Reserved.Base ? Expected.Failure(GmmError.InvalidArgument) : Expected.Success;

        if (Attempt("request balloon", expected, () => _gmm.RequestBalloon(vm.Handle, target)) != null) return;
        vm.RequestedBalloon = Math.Max(0, target - vm.Ballooned);
        vm.ActuallyBallooned = 0;
        vm.RequestedDeflate = Math.Max(0, vm.Ballooned - target);
    }

    private void ResetBalloon(ModelVm vm)
    {
        if (Attempt("reset balloon", Expected.Success, () => _gmm.ResetBalloon(vm.Handle)) != null) return;
        vm.Ballooned = vm.RequestedBalloon = vm.ActuallyBallooned = vm.RequestedDeflate = 0;
    }

    private void UpdateReservation(UpdateReservationOp op, ModelVm vm)
    {
        long delta = op.Reservation.Total - vm.Reserved.Total;
        Expected expected = !GmmReferenceModel.IsWellShaped(op.Reservation) ? Expected.Failure(GmmError.InvalidArgument)
            : _model.ReservationChange(delta, vm.Policy == OvercommitPolicy.NoOvercommit ? delta : 0) is { } declined ? Expected.Failure(declined)
            : Expected.Success;

        if (Attempt("update reservation", expected, () => _gmm.UpdateReservation(vm.Handle, op.Reservation)) != null) return;
        vm.Reserved = op.Reservation;
    }

    private void Destroy(int slot)
    {
        if (Attempt("destroy vm", Expected.Success, () => _gmm.DestroyVm(_model.Vms[slot]!.Handle)) != null) return;
        _model.DestroyVm(slot);
    }

    private void Create(CreateVmOp op)
    {
        if (_model.Vms[op.Vm] != null) Destroy(op.Vm);
        AccountPages r = op.Reservation;
        Expected expected = !GmmReferenceModel.IsWellShaped(r) ? Expected.Failure(GmmError.InvalidArgument)
            : _model.ReservationChange(r.Total, op.Policy == OvercommitPolicy.NoOvercommit ? r.Total : 0) is { } declined ? Expected.Failure(declined)
            : Expected.Success;

        VmHandle handle = default;
        if (Attempt("create vm", expected, () => handle = _gmm.RegisterVm(NameOf(op.Vm), r, op.Policy, op.Priority)) != null) return;
        Assert.NotEqual(VmHandle.Nil, handle);
        Assert.DoesNotContain(_model.Vms, v => v?.Handle == handle);
        _model.Vms[op.Vm] = new ModelVm(handle, r, op.Policy, op.Priority, fill: (byte)(0x10 + _vmsCreated++ % 0xE0));
        _lastHandles[op.Vm] = handle;
    }

    private void SetPriority(SetPriorityOp op, ModelVm vm)
    {
        if (Attempt("set priority", Expected.Success, () => _gmm.SetPriority(vm.Handle, op.Priority)) != null) return;
        vm.Priority = op.Priority;
    }

    private void MapChunk(MapChunkOp op, ModelVm vm)
    {
        var pick = new Random(op.Pick);
        int[] live = _model.LiveChunks.Order().ToArray();
        int[] stale = _model.SpareChunks == 0 ? _model.SeenChunks.Where(c => !_model.IsChunkLive(c)).Order().ToArray() : [];
        int unknown = pick.Next(2) == 0 ? -pick.Next(1, 5) : _gmm.Host.MaxChunks + 1 + pick.Next(100);
        bool asMap = pick.Next(2) == 0;
        (int map, int unmap, Expected expected)? call = op.Kind switch
        {
            MapKind.Neither => (0, 0, Expected.Failure(GmmError.InvalidArgument)),
            MapKind.UnknownChunk => asMap ? (unknown, 0, Expected.Failure(GmmError.ChunkNotFound)) : (0, unknown, Expected.Failure(GmmError.ChunkNotFound)),
            MapKind.StaleChunk when stale.Length > 0 => asMap ? (Pick(stale), 0, Expected.Failure(GmmError.ChunkNotFound)) : (0, Pick(stale), Expected.Failure(GmmError.ChunkNotFound)),
            MapKind.Map when live.Length > 0 => MapExpectation(vm, Pick(live), 0),
            MapKind.Unmap when live.Length > 0 => MapExpectation(vm, 0, Pick(live)),
            MapKind.MapAndUnmap when live.Length > 0 => MapExpectation(vm, Pick(live), Pick(live)),
            _ => null,
        };
        if (call is not { } c) return;

        nint address = -1;
        GmmError? error = Attempt("map/unmap chunk", c.expected, () => address = _gmm.MapUnmapChunk(vm.Handle, c.map, c.unmap));
        LearnMapping(vm, c.map, c.unmap, error);
        if (error == null) Assert.Equal(c.map == 0 ? 0 : ChunkAddress(c.map), address);

        int Pick(int[] chunks) => chunks[pick.Next(chunks.Length)];
    }

    /// <summary>The seed's rules: map fails if mapped (unless it is also the chunk unmapped), then unmap fails if not mapped.</summary>
    private static (int, int, Expected) MapExpectation(ModelVm vm, int map, int unmap)
    {
        bool? mapped = map == 0 || map == unmap ? false : vm.IsMapped(map);
        bool? unmapped = unmap == 0 ? true : vm.IsMapped(unmap);
        var errors = new List<GmmError>();
        if (mapped != false) errors.Add(GmmError.ChunkAlreadyMapped);
        if (mapped != true && unmapped != true) errors.Add(GmmError.ChunkNotMapped);
        return (map, unmap, new Expected(mapped != true && unmapped != false, [.. errors]));
    }

    /// <summary>What an outcome tells about mappings the model was unsure of.</summary>
    private static void LearnMapping(ModelVm vm, int map, int unmap, GmmError? error)
    {
        switch (error)
        {
            case null:
                if (unmap != 0) vm.Mapped[unmap] = false;
                if (map != 0) vm.Mapped[map] = true;
                break;
            case GmmError.ChunkAlreadyMapped:
                vm.Mapped[map] = true;
                break;
            case GmmError.ChunkNotMapped:
                vm.Mapped[unmap] = false;
                if (map != 0 && map != unmap) vm.Mapped[map] = false;
                break;
        }
    }

    private unsafe nint ChunkAddress(int chunk) => (nint)_gmm.Host.ChunkAddress(chunk);

    /// <summary>Every call on a slot with no VM must fail with VmNotFound (or first with its own argument error).</summary>
    private void ApplyToMissingVm(GmmOp op)
    {
        VmHandle gone = GoneHandle(op.Vm);
        Expected notFound = Expected.Failure(GmmError.VmNotFound);
        (string Name, Action Call, Expected Expected) attempt = op switch
        {
            AllocateOp o => ("allocate", () => _gmm.AllocatePages(gone, o.Account, new PageDescriptor[1], o.Zero), notFound),
            HandyOp => ("handy", () => _gmm.AllocateHandyPages(gone, [], new PageDescriptor[1]), notFound),
            FreeOp o => ("free", () => _gmm.FreePages(gone, o.Account, []), notFound),
            AllocateSharedOp o => ("allocate shared", () => _gmm.AllocateSharedPage(gone, o.Checksum), notFound),
            AddReferenceOp => ("add reference", () => _gmm.AddSharedReference(gone, PageId.Nil), notFound),
            BalloonOp => ("balloon", () => _gmm.BalloonedPages(gone, 0, [], completed: false), notFound),
            DeflateOp => ("deflate", () => _gmm.DeflatedBalloon(gone, 0), notFound),
            RequestBalloonOp => ("request balloon", () => _gmm.RequestBalloon(gone, 0), notFound),
            ResetBalloonOp => ("reset balloon", () => _gmm.ResetBalloon(gone), notFound),
            UpdateReservationOp o => ("update reservation", () => _gmm.UpdateReservation(gone, o.Reservation),
                GmmReferenceModel.IsWellShaped(o.Reservation) ? notFound : Expected.Failure(GmmError.InvalidArgument)),
            DestroyVmOp => ("destroy vm", () => _gmm.DestroyVm(gone), notFound),
            SetPriorityOp o => ("set priority", () => _gmm.SetPriority(gone, o.Priority), notFound),
            MapChunkOp => ("map/unmap chunk", () => _gmm.MapUnmapChunk(gone, 0, 0), notFound),
            _ => throw new ArgumentOutOfRangeException(nameof(op), op, "unknown operation"),
        };
        Attempt(attempt.Name, attempt.Expected, attempt.Call);
    }
}
