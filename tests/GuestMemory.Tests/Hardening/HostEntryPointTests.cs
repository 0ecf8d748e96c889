using GuestMemory.Gmm;
using GuestMemory.Phys;
using GuestMemory.Tests.Phys;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Hardening;

/// <summary>
/// The Gmm's seed-shaped entry points (<c>gmm.Pages</c>) check who owns a page: the pages of a VM made by
/// <see cref="GlobalMemoryManager.CreateVm"/> belong to its guest-physical memory, so a host cannot free
/// or balloon them behind its back (<see cref="GmmError.NotPageOwner"/>, nothing changed). Before, freeing a
/// page the guest still mapped was accepted; Verify then failed and Dispose threw. VMs a host registers
/// itself are driven through the same entry points as before.
/// </summary>
public sealed class HostEntryPointTests
{
    [Fact]
    public void The_pages_of_a_managed_vm_cannot_be_changed_behind_its_back()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        VirtualMachine vm = gmm.AddVm(64);
        vm.Memory.Write(0, TestVms.Bytes(Paging.PageSize, 1));
        PageId page = vm.Memory.GetPage(0).HostPage;
        using ReadMapping mapping = vm.Memory.MapForRead(0);
        PhysSnapshot before = PhysSnapshot.Take(gmm, vm);

        TestVms.Fails(GmmError.NotPageOwner, () => gmm.Pages.FreePages(vm.Handle, GmmAccount.Base, [page]));
        TestVms.Fails(GmmError.NotPageOwner, () => gmm.Pages.BalloonedPages(vm.Handle, 1, [page], completed: false));
        TestVms.Fails(GmmError.NotPageOwner, () => gmm.Pages.AllocatePages(vm.Handle, GmmAccount.Base, new PageDescriptor[1], zero: true));
        TestVms.Fails(GmmError.NotPageOwner, () => gmm.Pages.AllocateSharedPage(vm.Handle, 0));
        TestVms.Fails(GmmError.NotPageOwner, () => gmm.Pages.ResetBalloon(vm.Handle));
        TestVms.Fails(GmmError.NotPageOwner, () => gmm.Pages.DestroyVm(vm.Handle));

        PhysSnapshot.Take(gmm, vm).AssertSameAs(before);
        gmm.Verify();
    }

    [Fact]
    public void A_vm_the_host_registers_itself_is_driven_through_the_entry_points()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        VmHandle hosted = gmm.Pages.RegisterVm("hosted", new AccountPages(64, 0, 0));

        PageId[] pages = gmm.Pages.Allocate(hosted, 8);
        gmm.Pages.FreePages(hosted, GmmAccount.Base, pages);
        gmm.Pages.DestroyVm(hosted);

        gmm.Verify();
    }
}
