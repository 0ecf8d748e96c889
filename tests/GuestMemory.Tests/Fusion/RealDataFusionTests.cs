using GuestMemory.Fusion;
using GuestMemory.Phys;

namespace GuestMemory.Tests.Fusion;

/// <summary>Fusion on slices of real guest RAM: it reaches the perfect savings the oracle computes, and keeps every byte.</summary>
public sealed class RealDataFusionTests
{
    [Fact]
    public void Fusion_on_real_slices_saves_exactly_what_perfect_sharing_would()
    {
        using var world = new FusionWorld();
        var loaded = new List<(VirtualMachine Vm, byte[][] Pages)>();
        foreach (string file in RealDataSlices.Files)
        {
            byte[][] pages = RealDataSlices.Pages(file);
            VirtualMachine vm = world.AddVm(pages.Length);
            using (GuestDump dump = GuestDump.Open(file)) Assert.Equal(pages.Length, dump.WriteTo(vm.Memory));
            for (int p = 0; p < pages.Length; p++) world.Expect(vm, p, pages[p]);
            loaded.Add((vm, pages));
        }
        var oracle = RealDataSlices.Count(loaded.SelectMany(l => l.Pages));

        int passes = world.RunUntilConverged();

        Assert.True(passes <= 3, $"took {passes} passes"); // arm, merge, confirm
        GuestMemoryStatistics[] vms = loaded.Select(l => l.Vm.Memory.GetStatistics()).ToArray();
        long privatePages = vms.Sum(s => s.AllocatedPages + s.WriteMonitoredPages);
        Assert.Equal(oracle.Zero, vms.Sum(s => s.ZeroPages));
        Assert.Equal(oracle.Distinct.Count, privatePages + world.Gmm.Statistics.SharedPages);
        Assert.Equal(oracle.Pages - oracle.Zero - privatePages, vms.Sum(s => s.SharedPages));
        world.CheckAll();
    }
}
