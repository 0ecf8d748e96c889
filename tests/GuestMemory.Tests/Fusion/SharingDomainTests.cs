using GuestMemory.Phys;

namespace GuestMemory.Tests.Fusion;

/// <summary>Sharing domains keep tenants apart; <see cref="VmOptions.PageSharing"/> = false keeps a VM out entirely.</summary>
public sealed class SharingDomainTests
{
    [Fact]
    public void Vms_share_only_with_vms_of_their_own_domain()
    {
        using var world = new FusionWorld();
        VirtualMachine a1 = world.AddVm(8, "tenant-a"), a2 = world.AddVm(8, "tenant-a");
        VirtualMachine b1 = world.AddVm(8, "tenant-b");
        byte[] content = TestPages.Filled(21);
        foreach (VirtualMachine vm in new[] { a1, a2, b1 }) world.Write(vm, 0, content);

        world.RunUntilConverged();

        Assert.Equal(GuestPageState.Shared, world.State(a1, 0));
        Assert.Equal(world.HostPage(a1, 0), world.HostPage(a2, 0));
        Assert.Equal(GuestPageState.WriteMonitored, world.State(b1, 0)); // alone in its domain

        VirtualMachine b2 = world.AddVm(8, "tenant-b");
        world.Write(b2, 4, content);
        world.RunUntilConverged();

        Assert.Equal(GuestPageState.Shared, world.State(b1, 0));
        Assert.Equal(world.HostPage(b1, 0), world.HostPage(b2, 4));
        Assert.NotEqual(world.HostPage(a1, 0), world.HostPage(b1, 0));
        Assert.Equal(2, world.Gmm.Statistics.SharedPages);
        world.CheckAll();
    }

    [Fact]
    public void A_vm_with_page_sharing_off_is_left_alone()
    {
        using var world = new FusionWorld();
        VirtualMachine off = world.AddVm(8, sharing: false), on = world.AddVm(8);
        byte[] content = TestPages.Filled(22);
        world.Write(off, 0, content);
        world.Write(off, 1, content);
        world.Write(off, 2, TestPages.Zero());
        world.Write(on, 0, content);
        GuestPageInfo[] before = Enumerable.Range(0, 8).Select(p => world.Info(off, p)).ToArray();

        world.RunUntilConverged();

        Assert.Equal(before, Enumerable.Range(0, 8).Select(p => world.Info(off, p)));
        Assert.Equal(GuestPageState.WriteMonitored, world.State(on, 0)); // its only twins are off limits
        Assert.Equal(0, world.Gmm.Statistics.SharedPages);
        Assert.Equal(0, world.Gmm.Fusion.Statistics.ZeroPagesReclaimed);
        world.CheckAll();
    }
}
