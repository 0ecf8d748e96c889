using GuestMemory.Phys;
using GuestMemory.Tests.Phys;

namespace GuestMemory.Tests.Fusion;

/// <summary>
/// A page fusion hashed, then rewritten with the same bytes and re-armed by fusion, has exactly the entry
/// it had when it was hashed (fusion's arming clears the written-to flag). In the pass that re-armed it,
/// a writer that saw it Allocated may still be copying in, so it must not be the twin of a merge then,
/// however equal its entry looks; a pass later it may.
/// </summary>
public sealed class RearmedTwinTests
{
    [Fact]
    public void A_twin_rearmed_in_this_pass_is_not_merged_until_the_next()
    {
        using var world = new FusionWorld();
        byte[] content = TestPages.Filled(91);
        VirtualMachine a = world.AddVm(8), b = world.AddVm(8); // a is scanned first, and its arming sent before b's scan
        world.Write(a, 0, content);
        world.Gmm.Fusion.RunPass();     // arms a's page
        world.Write(b, 0, content);
        world.Gmm.Fusion.RunPass();     // hashes a's page (the table's twin), arms b's
        ulong hashedEntry = a.Memory.Entry(FusionWorld.Address(0));
        world.Write(a, 0, content);     // rewritten: Allocated again
        Assert.Equal(GuestPageState.Allocated, world.State(a, 0));

        world.Gmm.Fusion.RunPass();     // re-arms a's page (the same entry as when hashed), examines b's

        Assert.Equal(hashedEntry, a.Memory.Entry(FusionWorld.Address(0)));
        Assert.Equal(GuestPageState.WriteMonitored, world.State(a, 0));
        Assert.NotEqual(GuestPageState.Shared, world.State(b, 0));

        world.Gmm.Fusion.RunPass();     // a's arming is older than this pass's wait for readers

        Assert.Equal(GuestPageState.Shared, world.State(a, 0));
        Assert.Equal(world.HostPage(a, 0), world.HostPage(b, 0));
        world.CheckAll();
    }

    [Fact]
    public void A_twin_written_after_its_merge_was_queued_and_rearmed_in_the_same_segment_keeps_the_write()
    {
        using var world = new FusionWorld();
        byte[] content = TestPages.Filled(92), written = TestPages.Filled(93);
        VirtualMachine vm = world.AddVm(8);
        world.Write(vm, 1, content);
        world.Gmm.Fusion.RunPass();     // arms page 1
        world.Gmm.Fusion.RunPass();     // hashes page 1: the table's twin
        world.Write(vm, 0, content);
        world.Gmm.Fusion.RunPass();     // arms page 0
        world.Gmm.Fusion.AfterExamine = (_, index) =>
        {
            if (index == 0) world.Write(vm, 1, written); // after page 0's merge with its twin was queued, before page 1 is visited
        };

        world.Gmm.Fusion.RunPass();     // examines page 0 (merge with page 1 queued), then re-arms the written page 1
        world.Gmm.Fusion.AfterExamine = null;

        Assert.Equal(written, world.Read(vm, 1));
        world.Gmm.Fusion.RunPass();
        world.Gmm.Fusion.RunPass();
        Assert.Equal(written, world.Read(vm, 1));
        Assert.Equal(content, world.Read(vm, 0));
        world.CheckAll();
    }
}
