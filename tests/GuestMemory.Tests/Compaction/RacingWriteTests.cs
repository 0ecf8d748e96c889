using GuestMemory.Compaction;
using GuestMemory.Gmm;
using GuestMemory.Phys;
using GuestMemory.Tests.Phys;

namespace GuestMemory.Tests.Compaction;

/// <summary>
/// A write that lands between the arming of a move and its switch is never lost: the switch is refused,
/// the copy is freed, the page keeps the written bytes in its old place, and the refusal is counted.
/// </summary>
public sealed class RacingWriteTests
{
    [Fact]
    public void A_write_after_the_copy_refuses_that_move_only()
    {
        using var rig = Fragmented(out VirtualMachine vm);
        int written = -1;
        PageId before = PageId.Nil;
        rig.Compactor.BeforeSwitch = target =>
        {
            if (written >= 0) return;
            written = ArmedPage(rig, target);
            before = rig.HostPage(target, written);
            rig.WriteUnique(target, written, version: 7);
        };

        CompactionResult result = rig.Compactor.Run();

        Assert.True(written >= 0, "the hook saw no page being moved");
        Assert.Equal(1, result.MovesRefused);
        Assert.Equal(1, rig.Compactor.Statistics.MovesRefused);
        Assert.True(result.PrivatePagesMoved > 0);
        Assert.Equal(before, rig.HostPage(vm, written));
        Assert.Equal(GuestPageState.Allocated, rig.Info(vm, written).State);
        Assert.Equal(rig.Gmm.Statistics.MinimumChunks + 1, rig.ChunksInUse); // its chunk stays for it
        rig.CheckAll();
    }

    [Fact]
    public void A_write_followed_by_a_rearming_that_rebuilds_the_armed_entry_is_still_refused()
    {
        using var rig = Fragmented(out VirtualMachine vm);
        int written = -1;
        rig.Compactor.BeforeSwitch = target =>
        {
            if (written >= 0) return;
            written = ArmedPage(rig, target);
            ulong address = CompactionRig.Address(written);
            ulong armed = target.Memory.Entry(address);
            rig.WriteUnique(target, written, version: 7);
            // Another layer (fusion, a live save) arms the page again and happens to rebuild the very entry
            // the move expects, all but the moving flag, which only a write can clear.
            var rearm = new PageUpdateBatch(1);
            rearm.Add(address, target.Memory.Entry(address), armed & ~GuestPage.MovingFlag, PageId.Nil);
            rearm.SendTo(target.Memory);
            Assert.True(rearm.Updates[0].Applied);
        };

        CompactionResult result = rig.Compactor.Run();

        Assert.True(written >= 0, "the hook saw no page being moved");
        Assert.Equal(1, result.MovesRefused);
        Assert.Equal(GuestPageState.WriteMonitored, rig.Info(vm, written).State);
        rig.CheckAll();
    }

    /// <summary>A page of <paramref name="vm"/> armed by the compactor right now (its entry carries the moving flag).</summary>
    private static int ArmedPage(CompactionRig rig, VirtualMachine vm)
    {
        for (int p = 0; p < 1024; p++)
            if ((vm.Memory.Entry(CompactionRig.Address(p)) & GuestPage.MovingFlag) != 0) return p;
        throw new InvalidOperationException($"no page of {vm} is armed for a move");
    }

    private static CompactionRig Fragmented(out VirtualMachine vm)
    {
        var rig = new CompactionRig();
        vm = rig.AddVm(1024);
        rig.Fragment(1024, vm);
        return rig;
    }
}
