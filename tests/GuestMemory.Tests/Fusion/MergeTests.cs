using GuestMemory.Gmm;
using GuestMemory.Phys;

namespace GuestMemory.Tests.Fusion;

/// <summary>Identical pages, across VMs and within one, end up on one read-only shared page.</summary>
public sealed class MergeTests
{
    [Fact]
    public void Identical_pages_of_two_vms_share_one_host_page()
    {
        using var world = new FusionWorld();
        VirtualMachine a = world.AddVm(16), b = world.AddVm(16);
        byte[] content = TestPages.Filled(1);
        world.Write(a, 2, content);
        world.Write(b, 5, content);
        world.Write(a, 3, TestPages.Filled(2)); // unique: stays private
        long privateBefore = world.Gmm.Statistics.PrivatePages;

        int passes = world.RunUntilConverged();

        Assert.True(passes <= 3, $"took {passes} passes"); // arm, merge, confirm
        Assert.Equal(GuestPageState.Shared, world.State(a, 2));
        Assert.Equal(GuestPageState.Shared, world.State(b, 5));
        PageId shared = world.HostPage(a, 2);
        Assert.Equal(shared, world.HostPage(b, 5));
        Assert.Equal(HostPageState.Shared, world.Gmm.Pages.InspectPage(shared).State);
        Assert.Equal(2u, world.Gmm.Pages.InspectPage(shared).References);
        Assert.Equal(GuestPageState.WriteMonitored, world.State(a, 3));
        GmmStatistics gmm = world.Gmm.Statistics;
        Assert.Equal(1, gmm.SharedPages);
        Assert.Equal(1, gmm.DuplicatePages);
        Assert.Equal(privateBefore - 2, gmm.PrivatePages);
        var stats = world.Gmm.Fusion.Statistics;
        Assert.Equal(2, stats.PagesMerged);
        Assert.Equal(1, stats.SharedPagesCreated);
        Assert.Equal(2, stats.SharingReferences);
        Assert.True(stats.PagesScanned >= 3 && stats.BytesScanned >= 3L * Paging.PageSize);
        world.CheckAll();
    }

    [Fact]
    public void Identical_pages_inside_one_vm_share_one_host_page()
    {
        using var world = new FusionWorld();
        VirtualMachine vm = world.AddVm(32);
        byte[] content = TestPages.Pattern();
        foreach (int p in new[] { 1, 9, 30 }) world.Write(vm, p, content);

        world.RunUntilConverged();

        PageId shared = world.HostPage(vm, 1);
        foreach (int p in new[] { 1, 9, 30 })
        {
            Assert.Equal(GuestPageState.Shared, world.State(vm, p));
            Assert.Equal(shared, world.HostPage(vm, p));
        }
        Assert.Equal(3u, world.Gmm.Pages.InspectPage(shared).References);
        Assert.Equal(3, vm.Accounts.SharedPages);
        world.CheckAll();
    }

    [Fact]
    public void A_later_copy_joins_the_existing_shared_page()
    {
        using var world = new FusionWorld();
        VirtualMachine a = world.AddVm(8), b = world.AddVm(8);
        byte[] content = TestPages.Filled(4);
        world.Write(a, 0, content);
        world.Write(b, 0, content);
        world.RunUntilConverged();
        PageId shared = world.HostPage(a, 0);

        VirtualMachine c = world.AddVm(8);
        world.Write(c, 7, content);
        world.RunUntilConverged();

        Assert.Equal(shared, world.HostPage(c, 7));
        Assert.Equal(3u, world.Gmm.Pages.InspectPage(shared).References);
        Assert.Equal(1, world.Gmm.Fusion.Statistics.SharedPagesCreated);
        world.CheckAll();
    }

    [Fact]
    public void Pages_with_the_same_hash_but_other_bytes_are_not_merged()
    {
        using var world = new FusionWorld();
        VirtualMachine a = world.AddVm(8), b = world.AddVm(8);
        byte[] page = TestPages.Filled(6);
        world.Write(a, 0, page);
        world.Write(b, 0, HashCollisions.SameHashOtherBytes(page));
        world.Write(b, 1, page); // a true twin of a's page, behind the impostor in scan order

        world.RunUntilConverged();

        Assert.NotEqual(GuestPageState.Shared, world.State(b, 0));
        Assert.Equal(GuestPageState.Shared, world.State(a, 0));
        Assert.Equal(world.HostPage(a, 0), world.HostPage(b, 1));
        world.CheckAll();
    }
}
