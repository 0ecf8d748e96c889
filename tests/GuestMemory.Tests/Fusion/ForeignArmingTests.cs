using GuestMemory.Gmm;
using GuestMemory.Phys;
using GuestMemory.Tests.Phys;

namespace GuestMemory.Tests.Fusion;

/// <summary>
/// Fusion reads a page only if its own arming, with no write since, is older than its last wait for
/// readers. A page it armed that was then written and armed again by another layer (the compactor, a
/// live save) looks monitored, but a writer that saw it Allocated may still be copying into it: fusion
/// must arm it afresh and wait a pass, not merge it at once.
/// </summary>
public sealed class ForeignArmingTests
{
    [Fact]
    public void A_page_written_and_rearmed_by_another_layer_waits_a_pass_before_it_is_merged()
    {
        using var world = new FusionWorld();
        byte[] content = TestPages.Filled(71);
        VirtualMachine a = world.AddVm(8), b = world.AddVm(8);
        world.Write(a, 0, content);
        world.Write(b, 0, content);
        world.Gmm.Fusion.RunPass(); // arms both
        world.Write(a, 0, content); // written again (same bytes): Allocated, written-to
        ArmLikeTheCompactor(a, 0);

        world.Gmm.Fusion.RunPass();

        Assert.NotEqual(GuestPageState.Shared, world.State(a, 0));
        Assert.False(world.Info(a, 0).WrittenTo); // armed afresh by fusion

        world.Gmm.Fusion.RunPass();

        Assert.Equal(GuestPageState.Shared, world.State(a, 0));
        Assert.Equal(world.HostPage(a, 0), world.HostPage(b, 0));
        world.CheckAll();
    }

    [Fact]
    public void A_page_fusion_armed_and_nobody_wrote_is_merged_even_if_another_layer_armed_it_too()
    {
        using var world = new FusionWorld();
        byte[] content = TestPages.Filled(72);
        VirtualMachine a = world.AddVm(8), b = world.AddVm(8);
        world.Write(a, 0, content);
        world.Write(b, 0, content);
        world.Gmm.Fusion.RunPass();
        ArmLikeTheCompactor(a, 0);

        world.Gmm.Fusion.RunPass();

        Assert.Equal(GuestPageState.Shared, world.State(a, 0));
        world.CheckAll();
    }

    /// <summary>What the compactor's arming request does: Write-Monitored plus the moving flag, other flags kept.</summary>
    private static void ArmLikeTheCompactor(VirtualMachine vm, int page)
    {
        ulong address = FusionWorld.Address(page), e = vm.Memory.Entry(address);
        var arm = new PageUpdateBatch(1);
        arm.Add(address, e, GuestPage.WithState(e, GuestPageState.WriteMonitored) | GuestPage.MovingFlag, PageId.Nil);
        arm.SendTo(vm.Memory);
        Assert.True(arm.Updates[0].Applied);
    }
}
