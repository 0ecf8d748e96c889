using GuestMemory.Compaction;
using GuestMemory.Gmm;
using GuestMemory.Phys;
using GuestMemory.Tests.Fusion;

namespace GuestMemory.Tests.Compaction;

/// <summary>Every byte survives a move, and a moved page behaves as before: same state, readable and writable.</summary>
public sealed class MoveContentTests
{
    [Fact]
    public void Pages_of_several_vms_hold_exactly_what_was_written_after_they_moved()
    {
        using var rig = new CompactionRig();
        VirtualMachine a = rig.AddVm(1024), b = rig.AddVm(1024), c = rig.AddVm(1024);
        rig.Fragment(1024, a, b, c);
        for (int p = 0; p < 1024; p += 2) rig.Write(a, p, TestPages.WithByte(rig.Expected(a, p), p % Paging.PageSize, 0xA5)); // not just the pattern
        Dictionary<(VirtualMachine, int), PageId> before = HostPages(rig);

        CompactionResult result = rig.Compactor.Run();

        int changed = HostPages(rig).Count(kv => kv.Value != before[kv.Key]);
        Assert.True(result.PrivatePagesMoved >= 3 * 256, $"moved {result.PrivatePagesMoved}");
        Assert.Equal(result.PrivatePagesMoved, changed);
        Assert.Equal(rig.Gmm.Statistics.MinimumChunks, rig.ChunksInUse);
        rig.CheckAll();
    }

    [Fact]
    public void A_moved_page_keeps_its_state_and_takes_writes_afterwards()
    {
        using var rig = new CompactionRig();
        VirtualMachine vm = rig.AddVm(1024, sharing: true);
        rig.Fragment(1024, vm);
        rig.Balloon(vm, Enumerable.Range(50, 100).Select(p => 2 * p)); // the first chunk is now the emptiest: it is emptied
        rig.Gmm.Fusion.RunPass(); // arms every page for write monitoring
        int monitored = 2, allocated = 4;
        rig.WriteUnique(vm, allocated, version: 1); // written again: Allocated
        PageId[] before = [rig.HostPage(vm, monitored), rig.HostPage(vm, allocated)];

        rig.Compactor.Run();

        Assert.NotEqual(before[0], rig.HostPage(vm, monitored));
        Assert.NotEqual(before[1], rig.HostPage(vm, allocated));
        Assert.Equal(GuestPageState.WriteMonitored, rig.Info(vm, monitored).State);
        Assert.Equal(GuestPageState.Allocated, rig.Info(vm, allocated).State);
        rig.CheckAll();

        rig.WriteUnique(vm, monitored, version: 2);
        rig.WriteUnique(vm, allocated, version: 2);
        Assert.Equal(GuestPageState.Allocated, rig.Info(vm, monitored).State);
        rig.CheckAll();
    }

    private static Dictionary<(VirtualMachine, int), PageId> HostPages(CompactionRig rig) =>
        rig.Vms.SelectMany(vm => Enumerable.Range(0, 1024).Select(p => (vm, p))).ToDictionary(k => k, k => rig.HostPage(k.vm, k.p));
}
