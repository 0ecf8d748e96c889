using GuestMemory.Phys;

namespace GuestMemory.Tests.Fusion;

/// <summary>Pages that keep changing are visited less and less often, and are not merged while they change.</summary>
public sealed class VolatilityTests
{
    [Fact]
    public void A_page_rewritten_every_pass_is_armed_ever_less_often_and_never_merged()
    {
        using var world = new FusionWorld();
        VirtualMachine vm = world.AddVm(8);
        byte[] content = TestPages.Filled(41);
        world.Write(vm, 0, content); // a stable twin: the volatile page would merge with it if examined
        const int passes = 64;
        int armedPasses = 0;
        long skipsAtHalf = 0;
        for (int pass = 1; pass <= passes; pass++)
        {
            world.Write(vm, 1, content);
            world.Gmm.Fusion.RunPass();
            if (world.State(vm, 1) == GuestPageState.WriteMonitored) armedPasses++;
            Assert.NotEqual(GuestPageState.Shared, world.State(vm, 1));
            if (pass == passes / 2) skipsAtHalf = world.Gmm.Fusion.Statistics.VolatileSkips;
        }

        long skips = world.Gmm.Fusion.Statistics.VolatileSkips;
        Assert.True(skipsAtHalf > 0 && skips > skipsAtHalf, $"volatile skips: {skipsAtHalf} at half time, {skips} at the end");
        Assert.True(armedPasses <= passes / 4, $"armed in {armedPasses} of {passes} passes");
        world.CheckAll();
    }

    [Fact]
    public void A_volatile_page_that_settles_is_merged_in_the_end()
    {
        using var world = new FusionWorld();
        VirtualMachine vm = world.AddVm(8);
        byte[] content = TestPages.Filled(42);
        world.Write(vm, 0, content);
        for (int pass = 0; pass < 20; pass++)
        {
            world.Write(vm, 1, content);
            world.Gmm.Fusion.RunPass();
        }

        int waited = 0;
        while (world.State(vm, 1) != GuestPageState.Shared && waited < 1000)
        {
            world.Gmm.Fusion.RunPass();
            waited++;
        }

        Assert.Equal(GuestPageState.Shared, world.State(vm, 1));
        Assert.Equal(world.HostPage(vm, 0), world.HostPage(vm, 1));
        world.CheckAll();
    }
}
