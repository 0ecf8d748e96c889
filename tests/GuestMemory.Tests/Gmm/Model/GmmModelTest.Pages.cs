using GuestMemory.Gmm;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Gmm.Model;

/// <summary>The page operations: allocate, handy pages, free, shared pages and references.</summary>
internal sealed partial class GmmModelTest
{
    private void Allocate(AllocateOp op, ModelVm vm)
    {
        int count = op.OverLimit ? (int)Math.Clamp(vm.Headroom(op.Account) + 1, 1, 20_000) : op.Count;
        var pages = new PageDescriptor[count];
        foreach (ref PageDescriptor d in pages.AsSpan()) d.GuestFrame = vm.NextGuestFrame++;
        Expected expected = _model.AllocatedHostPages + count > _model.MaxPages ? Expected.Failure(GmmError.HitGlobalLimit)
            : count > vm.Headroom(op.Account) ? Expected.Failure(GmmError.HitVmAccountLimit)
            : op.HostRefuses ? Expected.Success.OrFailure(GmmError.HostOutOfMemory)
            : Expected.Success;

        if (Attempt("allocate", expected, () => _gmm.AllocatePages(vm.Handle, op.Account, pages, op.Zero), hostRefuses: op.HostRefuses) != null) return;
        foreach (PageDescriptor d in pages)
        {
            if (op.Zero) Assert.True(d.Zeroed, $"{d.Page} was asked for zeroed but is not flagged so");
            TakePrivatePage(op.Vm, op.Account, d);
        }
    }

    private void Handy(HandyOp op, ModelVm vm)
    {
        var pick = new Random(op.Pick);
        List<PageDescriptor> updates = vm.HandyPages.Pick(pick, op.Updates)
            .Select(p => new PageDescriptor { Page = p, GuestFrame = vm.NextGuestFrame++ }).ToList();
        Expected? fault = AddHandyFault(op.Fault, vm, updates, pick);
        var batch = new PageDescriptor[op.NewPages];
        int granted = (int)Math.Clamp(Math.Min(vm.Headroom(GmmAccount.Base), _model.MaxPages - _model.AllocatedHostPages), 0, op.NewPages);
        Expected expected = fault
            ?? (granted == 0 && op.NewPages > 0
                ? Expected.Failure(_model.AllocatedHostPages + 1 > _model.MaxPages ? GmmError.HitGlobalLimit : GmmError.HitVmAccountLimit)
                : Expected.Success);

        int got = -1;
        if (Attempt("handy", expected, () => got = _gmm.AllocateHandyPages(vm.Handle, updates.ToArray(), batch), updates.Select(u => u.Page)) != null) return;
        Assert.Equal(granted, got);
        foreach (PageDescriptor u in updates) _model.SetGuestFrame(u.Page, u.GuestFrame);
        foreach (PageDescriptor d in batch[..got])
        {
            Assert.Equal(PageDescriptor.NoGuestFrame, d.GuestFrame);
            TakePrivatePage(op.Vm, GmmAccount.Base, d);
        }
    }

    /// <summary>Puts one bad update among the good ones and says which error it must raise (null: no fault possible).</summary>
    private Expected? AddHandyFault(PageFault fault, ModelVm vm, List<PageDescriptor> updates, Random pick)
    {
        (PageId page, ulong frame, Expected expected)? bad = fault switch
        {
            PageFault.ForeignPage when OtherVmsPages(vm, pick).TryPick(pick, out PageId p) => (p, 1, Expected.Failure(GmmError.NotPageOwner)),
            PageFault.WrongAccount when vm.Private[1 + pick.Next(2)].TryPick(pick, out PageId p) => (p, 1, Expected.Failure(GmmError.NotPageOwner)),
            PageFault.StalePage when _model.FreedPages.TryPick(pick, out PageId p) => (p, 1, Expected.Failure(_model.ErrorsForStalePage(p, GmmError.PageNotPrivate))),
            PageFault.UnknownId => (UnknownPage(pick), 1, Expected.Failure(GmmError.PageNotFound)),
            PageFault.SharedNotHeld when _model.SharedPageList.TryPick(pick, out PageId p) => (p, 1, Expected.Failure(GmmError.PageNotPrivate)),
            PageFault.BadFrame when vm.Private[0].TryPick(pick, out PageId p) => (p, 1UL << 40, Expected.Failure(GmmError.InvalidArgument)),
            _ => null,
        };
        if (bad is not { } b) return null;
        updates.RemoveAll(u => u.Page == b.page);
        updates.Insert(pick.Next(updates.Count + 1), new PageDescriptor { Page = b.page, GuestFrame = b.frame });
        return b.expected;
    }

    private void Free(FreeOp op, ModelVm vm)
    {
        var pick = new Random(op.Pick);
        List<PageId> batch = vm.Private[(int)op.Account].Pick(pick, op.Count);
        if (op.Account == GmmAccount.Base) batch.AddRange(PickList<PageId>.Sample(vm.ReferenceList(), pick, op.SharedReferences));
        batch = PickList<PageId>.Sample(batch, pick, batch.Count);
        Expected expected = AddFreeFault(op.Fault, op.Account, vm, batch, pick) ?? Expected.Success;

        if (Attempt("free", expected, () => _gmm.FreePages(vm.Handle, op.Account, batch.ToArray()), batch) != null) return;
        ReleasePages(op.Vm, batch);
    }

    /// <summary>Puts one bad page into a free batch and says which error it must raise (null: no fault possible).</summary>
    private Expected? AddFreeFault(PageFault fault, GmmAccount account, ModelVm vm, List<PageId> batch, Random pick)
    {
        int firstPrivate = batch.FindIndex(_model.PrivatePages.ContainsKey);
        (PageId page, int at, Expected expected)? bad = fault switch
        {
            PageFault.ForeignPage when OtherVmsPages(vm, pick).TryPick(pick, out PageId p) => (p, Anywhere(), Expected.Failure(GmmError.NotPageOwner)),
            PageFault.WrongAccount when vm.Private[((int)account + 1 + pick.Next(2)) % 3].TryPick(pick, out PageId p) => (p, Anywhere(), Expected.Failure(GmmError.NotPageOwner)),
            PageFault.RepeatedInBatch when firstPrivate >= 0 => (batch[firstPrivate], pick.Next(firstPrivate + 1, batch.Count + 1), Expected.Failure(GmmError.PageAlreadyFree)),
            PageFault.StalePage when _model.FreedPages.TryPick(pick, out PageId p) => (p, Anywhere(), Expected.Failure(_model.ErrorsForStalePage(p, GmmError.PageAlreadyFree))),
            PageFault.UnknownId => (UnknownPage(pick), Anywhere(), Expected.Failure(GmmError.PageNotFound)),
            PageFault.SharedNotHeld when SharedPageNotHeld(vm, account, pick) is { } p => (p, Anywhere(), Expected.Failure(GmmError.NotPageOwner)),
            _ => null,
        };
        if (bad is not { } b) return null;
        batch.Insert(b.at, b.page);
        return b.expected;

        int Anywhere() => pick.Next(batch.Count + 1);
    }

    /// <summary>A shared page the VM may not drop here: one it holds no reference to, or any one when the account is not base.</summary>
    private PageId? SharedPageNotHeld(ModelVm vm, GmmAccount account, Random pick)
    {
        PageId[] candidates = _model.SharedPageList.Items.Where(p => account != GmmAccount.Base || !vm.SharedReferences.ContainsKey(p)).ToArray();
        return candidates.Length > 0 ? candidates[pick.Next(candidates.Length)] : null;
    }

    private void AllocateShared(AllocateSharedOp op, ModelVm vm)
    {
        Expected expected = _model.AllocatedHostPages + 1 > _model.MaxPages ? Expected.Failure(GmmError.HitGlobalLimit)
            : op.HostRefuses ? Expected.Success.OrFailure(GmmError.HostOutOfMemory)
            : Expected.Success;

        PageId page = default;
        if (Attempt("allocate shared", expected, () => page = _gmm.AllocateSharedPage(vm.Handle, op.Checksum), hostRefuses: op.HostRefuses) != null) return;
        long tag = NextTag();
        PageContent.Write(_gmm.Host.PageSpan(page), tag, SharedFill(op.Checksum));
        _model.AddShared(op.Vm, page, op.Checksum, tag);
    }

    private void AddReference(AddReferenceOp op, ModelVm vm)
    {
        var pick = new Random(op.Pick);
        (PageId page, Expected expected)? target = op.Fault switch
        {
            PageFault.None when _model.SharedPageList.TryPick(pick, out PageId p) => (p, Expected.Success),
            PageFault.PrivatePage when AnyPrivatePage(pick) is { } p => (p, Expected.Failure(GmmError.PageNotShared)),
            PageFault.StalePage when _model.FreedPages.TryPick(pick, out PageId p) => (p, Expected.Failure(_model.ErrorsForStalePage(p, GmmError.PageNotShared))),
            PageFault.UnknownId => (UnknownPage(pick), Expected.Failure(GmmError.PageNotFound)),
            _ => null,
        };
        if (target is not { } t) return;

        if (Attempt("add reference", t.expected, () => _gmm.AddSharedReference(vm.Handle, t.page), [t.page]) != null) return;
        _model.AddReference(op.Vm, t.page);
    }

    /// <summary>Checks a newly handed out private page (zero when flagged so), writes its pattern and records it.</summary>
    private void TakePrivatePage(int slot, GmmAccount account, PageDescriptor d)
    {
        Span<byte> memory = _gmm.Host.PageSpan(d.Page);
        if (d.Zeroed) PageContent.AssertZero(memory, d.Page);
        long tag = NextTag();
        PageContent.Write(memory, tag, _model.Vms[slot]!.Fill);
        _model.AddPrivate(slot, account, d.Page, d.GuestFrame, tag);
    }

    /// <summary>Records that a VM gave these pages up: private pages freed, shared references dropped.</summary>
    private void ReleasePages(int slot, IEnumerable<PageId> pages)
    {
        foreach (PageId page in pages)
        {
            if (_model.PrivatePages.ContainsKey(page)) _model.RemovePrivate(page);
            else _model.DropReference(slot, page);
        }
    }

    /// <summary>The pages of one account of another live VM (empty when there is none).</summary>
    private PickList<PageId> OtherVmsPages(ModelVm vm, Random pick)
    {
        ModelVm[] others = _model.Vms.Where(v => v != null && v != vm).ToArray()!;
        return others.Length == 0 ? new PickList<PageId>() : others[pick.Next(others.Length)].Private[pick.Next(3)];
    }

    private PageId? AnyPrivatePage(Random pick)
    {
        ModelVm[] live = _model.Vms.Where(v => v != null).ToArray()!;
        if (live.Length == 0) return null;
        return live[pick.Next(live.Length)].Private[0].TryPick(pick, out PageId p) ? p : null;
    }

    private static byte SharedFill(uint checksum) => (byte)(checksum | 1);
}
