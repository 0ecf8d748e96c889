using System.Collections.Concurrent;
using GuestMemory.Gmm;
using GuestMemory.Phys;
using GuestMemory.Tests.Phys;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Hardening;

/// <summary>
/// A destroyed VM's slot is reused by the next VM, but its handle and objects never reach that VM: the
/// handle carries the generation of its registration, so the Gmm refuses it (<see cref="GmmError.VmNotFound"/>),
/// and every call through the destroyed VM's objects fails with <see cref="GmmError.VmDestroyed"/>.
/// Before, the old object's accounts showed the new VM's and its balloon target landed on the new VM,
/// and fusion merges queued for a destroyed VM freed references of its successor.
/// </summary>
public sealed class StaleHandleTests
{
    [Fact]
    public void A_destroyed_vms_objects_and_handle_never_reach_the_vm_that_reuses_its_slot()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        VirtualMachine old = gmm.AddVm(64, "old");
        VmHandle stale = old.Handle;
        old.Dispose();
        VirtualMachine next = gmm.AddVm(64, "next");
        next.Memory.Write(0, TestVms.Bytes(Paging.PageSize, 1));
        PageId nextPage = next.Memory.GetPage(0).HostPage;
        Assert.Equal(stale.Value, next.Handle.Value);      // the slot is reused...
        Assert.NotEqual(stale, next.Handle);                // ...the handle is not
        PhysSnapshot before = PhysSnapshot.Take(gmm, next);

        TestVms.Fails(GmmError.VmDestroyed, () => _ = old.Accounts);
        TestVms.Fails(GmmError.VmDestroyed, () => old.Balloon.SetTarget(10));
        TestVms.Fails(GmmError.VmDestroyed, () => old.Memory.Write(0, new byte[8]));
        TestVms.Fails(GmmError.VmDestroyed, () => old.Memory.ReadUInt64(0));
        TestVms.Fails(GmmError.VmNotFound, () => gmm.Pages.GetVmStatistics(stale));
        TestVms.Fails(GmmError.VmNotFound, () => gmm.Pages.FreePages(stale, GmmAccount.Base, [nextPage]));
        TestVms.Fails(GmmError.VmNotFound, () => gmm.Pages.RequestBalloon(stale, 1));
        TestVms.Fails(GmmError.VmNotFound, () => gmm.Pages.UpdateReservation(stale, new AccountPages(1, 0, 0)));
        TestVms.Fails(GmmError.VmNotFound, () => gmm.Pages.AllocateSharedPage(stale, 0));

        PhysSnapshot.Take(gmm, next).AssertSameAs(before);
        Assert.Equal(0, next.Balloon.TargetPages);
        Assert.Equal("next", gmm.Pages.GetVmStatistics(next.Handle).Name);
        gmm.Verify();
    }

    [Fact]
    public void Fusion_passes_racing_vm_destroy_and_create_never_touch_a_successor()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager(hostMib: 64);
        byte[] shared = TestVms.Bytes(Paging.PageSize, 7);
        VirtualMachine resident = gmm.AddVm(32, "resident");
        for (int page = 0; page < 32; page++) resident.Memory.Write((ulong)page * Paging.PageSize, shared);
        var failures = new ConcurrentQueue<Exception>();
        int cycles = 0, passes = 0;
        DateTime end = DateTime.UtcNow + TimeSpan.FromSeconds(3);

        Watchdog.Run(TimeSpan.FromSeconds(90),
            () =>
            {
                while (DateTime.UtcNow < end)
                {
                    try { gmm.Fusion.RunPass(); passes++; }
                    catch (Exception e) { failures.Enqueue(e); }
                }
            },
            () =>
            {
                // Each VM holds the resident's content, so merges against its pages are queued while it dies.
                var random = new Random(3);
                while (DateTime.UtcNow < end)
                {
                    VirtualMachine vm = gmm.AddVm(32, $"churn-{cycles}");
                    for (int page = 0; page < 32; page++) vm.Memory.Write((ulong)page * Paging.PageSize, shared);
                    Thread.Sleep(random.Next(3));
                    gmm.DestroyVm(vm);
                    cycles++;
                }
            });

        Assert.Empty(failures);
        Assert.True(cycles > 20 && passes > 20, $"{cycles} cycles, {passes} passes: the race was not exercised");
        gmm.Verify();
        TestContext.Current.SendDiagnosticMessage($"{cycles} destroy/create cycles under {passes} fusion passes");
    }
}
