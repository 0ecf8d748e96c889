using GuestMemory.Phys;

namespace GuestMemory.Tests.Fusion;

/// <summary>All-zero pages go back to the zero page and their host pages back to the Gmm.</summary>
public sealed class ZeroPageReclaimTests
{
    [Fact]
    public void Pages_written_with_zeros_return_to_the_zero_page()
    {
        using var world = new FusionWorld();
        VirtualMachine vm = world.AddVm(64);
        for (int p = 0; p < 10; p++) world.Write(vm, p, TestPages.Zero());
        for (int p = 10; p < 20; p++) world.Write(vm, p, TestPages.Filled((ulong)p));
        long privateBefore = world.Gmm.Statistics.PrivatePages;

        world.RunUntilConverged();

        for (int p = 0; p < 10; p++) Assert.Equal(GuestPageState.Zero, world.State(vm, p));
        for (int p = 10; p < 20; p++) Assert.Equal(GuestPageState.WriteMonitored, world.State(vm, p));
        Assert.Equal(10, world.Gmm.Fusion.Statistics.ZeroPagesReclaimed);
        Assert.Equal(privateBefore - 10, world.Gmm.Statistics.PrivatePages);
        world.CheckAll();
    }

    [Fact]
    public void A_single_non_zero_byte_keeps_a_page()
    {
        using var world = new FusionWorld();
        VirtualMachine vm = world.AddVm(8);
        world.Write(vm, 0, TestPages.WithByte(TestPages.Zero(), Paging.PageSize - 1, 7));

        world.RunUntilConverged();

        Assert.Equal(GuestPageState.WriteMonitored, world.State(vm, 0));
        Assert.Equal(0, world.Gmm.Fusion.Statistics.ZeroPagesReclaimed);
        world.CheckAll();
    }

    [Fact]
    public void A_reclaimed_page_written_again_gets_a_page_of_its_own()
    {
        using var world = new FusionWorld();
        VirtualMachine vm = world.AddVm(8);
        world.Write(vm, 3, TestPages.Zero());
        world.RunUntilConverged();
        Assert.Equal(GuestPageState.Zero, world.State(vm, 3));

        world.WriteBytes(vm, 3, 100, [1, 2, 3]);

        Assert.Equal(GuestPageState.Allocated, world.State(vm, 3));
        world.CheckAll();
    }
}
