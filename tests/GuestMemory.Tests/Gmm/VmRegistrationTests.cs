using GuestMemory.Gmm;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Gmm;

/// <summary>Creating VMs: handles, the initial reservation, policy and priority, and unknown handles.</summary>
public sealed class VmRegistrationTests
{
    [Fact]
    public void A_registered_vm_gets_a_non_nil_handle_and_its_initial_reservation()
    {
        using PageManager gmm = TestGmm.Create();

        VmHandle vm = gmm.RegisterVm("web-1", new AccountPages(1000, 20, 5), OvercommitPolicy.NoOvercommit, VmPriority.High);

        Assert.NotEqual(VmHandle.Nil, vm);
        GmmVmStatistics s = gmm.GetVmStatistics(vm);
        Assert.Equal("web-1", s.Name);
        Assert.Equal(new AccountPages(1000, 20, 5), s.Reserved);
        Assert.Equal(new AccountPages(0, 0, 0), s.Allocated);
        Assert.Equal(OvercommitPolicy.NoOvercommit, s.Policy);
        Assert.Equal(VmPriority.High, s.Priority);
        Assert.Equal(1025, gmm.GetStatistics().ReservedPages);
        Assert.Equal([vm], gmm.GetVmHandles());
        gmm.Verify();
    }

    [Fact]
    public void Handles_are_distinct_and_a_destroyed_vms_slot_is_reused_with_a_new_generation()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle[] vms = Enumerable.Range(0, 20).Select(_ => gmm.AddVm(basePages: 10)).ToArray();

        Assert.Equal(vms.Length, vms.Distinct().Count());
        gmm.DestroyVm(vms[5]);
        VmHandle reused = gmm.AddVm(basePages: 10);
        Assert.Equal(vms[5].Value, reused.Value);
        Assert.NotEqual(vms[5].Generation, reused.Generation);
        Assert.Equal(GmmError.VmNotFound, Assert.Throws<GmmException>(() => gmm.GetVmStatistics(vms[5])).Error);
        Assert.Equal(20, gmm.GetStatistics().Vms);
        gmm.Verify();
    }

    [Fact]
    public void Priority_can_be_changed()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm();

        gmm.SetPriority(vm, VmPriority.Low);

        Assert.Equal(VmPriority.Low, gmm.GetVmStatistics(vm).Priority);
        GmmAssert.FailsUnchanged(gmm, GmmError.InvalidArgument, () => gmm.SetPriority(vm, (VmPriority)7));
    }

    [Fact]
    public void Unknown_policy_or_priority_is_an_invalid_argument()
    {
        using PageManager gmm = TestGmm.Create();

        GmmAssert.FailsUnchanged(gmm, GmmError.InvalidArgument, () => gmm.AddVm(policy: (OvercommitPolicy)0));
        GmmAssert.FailsUnchanged(gmm, GmmError.InvalidArgument, () => gmm.AddVm(priority: (VmPriority)4));
    }

    [Fact]
    public void Every_per_vm_call_with_an_unknown_handle_fails_with_vm_not_found()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle live = gmm.AddVm();
        PageId page = gmm.Allocate(live, 1)[0];
        VmHandle gone = gmm.AddVm();
        gmm.DestroyVm(gone);
        var pages = new PageDescriptor[1];

        foreach (VmHandle unknown in new[] { gone, VmHandle.Nil, new VmHandle(ushort.MaxValue) })
        {
            Action[] calls =
            [
                () => gmm.AllocatePages(unknown, GmmAccount.Base, pages, zero: true),
                () => gmm.AllocateHandyPages(unknown, [], pages),
                () => gmm.FreePages(unknown, GmmAccount.Base, [page]),
                () => gmm.AllocateSharedPage(unknown, 0),
                () => gmm.AddSharedReference(unknown, page),
                () => gmm.BalloonedPages(unknown, 1, [], completed: false),
                () => gmm.DeflatedBalloon(unknown, 0),
                () => gmm.ResetBalloon(unknown),
                () => gmm.RequestBalloon(unknown, 0),
                () => gmm.UpdateReservation(unknown, new AccountPages(1, 0, 0)),
                () => gmm.SetPriority(unknown, VmPriority.Low),
                () => gmm.MapUnmapChunk(unknown, page.ChunkId, 0),
                () => gmm.DestroyVm(unknown),
                () => gmm.GetVmStatistics(unknown),
            ];
            foreach (Action call in calls) GmmAssert.FailsUnchanged(gmm, GmmError.VmNotFound, call, page);
        }
    }

    [Fact]
    public void The_vm_table_holds_at_most_65535_vms()
    {
        using PageManager gmm = TestGmm.Create(hostMib: 64);
        for (int i = 0; i < ushort.MaxValue; i++) gmm.AddVm(basePages: 1, shadowPages: 0, fixedPages: 0);

        GmmAssert.FailsUnchanged(gmm, GmmError.TooManyVms, () => gmm.AddVm(basePages: 1, shadowPages: 0, fixedPages: 0));
    }
}
