using GuestMemory.Compaction;
using GuestMemory.Gmm;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Compaction;

/// <summary>
/// VMs whose pages share chunks (here: no VM affinity, so their first writes interleave) leave half-used
/// chunks behind when one of them shuts down; compaction at shutdown packs the survivor's pages so the
/// chunks go back at once, or wakes the background worker to do it.
/// </summary>
public sealed class VmShutdownCompactionTests
{
    private static readonly ChunkPlacement Interleaving = new(VmAffinity: false);

    [Fact]
    public void Without_compaction_at_shutdown_the_interleaved_chunks_stay_half_used()
    {
        using var rig = new CompactionRig(placement: Interleaving);
        VirtualMachine a = rig.AddVm(2048), b = rig.AddVm(2048);
        rig.FillInterleaved(2048, a, b);

        rig.DestroyVm(b);

        FragmentationFigures f = rig.Compactor.MeasureFragmentation();
        Assert.True(f.ChunkRatio >= 1.5, $"{f.ChunksInUse} chunks for {f.MinimumChunks}");
        Assert.Equal(0, rig.Compactor.Statistics.Runs);
        rig.CheckAll();
    }

    [Fact]
    public void Compaction_at_shutdown_gives_the_chunks_back_at_once()
    {
        using var rig = new CompactionRig(placement: Interleaving);
        VirtualMachine a = rig.AddVm(2048), b = rig.AddVm(2048);
        rig.FillInterleaved(2048, a, b);
        rig.Gmm.CompactOnVmShutdown = true;

        rig.DestroyVm(b);

        Assert.Equal(rig.Gmm.Statistics.MinimumChunks, rig.ChunksInUse);
        CompactionStatistics totals = rig.Compactor.Statistics;
        Assert.Equal(1, totals.Runs);
        Assert.True(totals.PrivatePagesMoved > 0 && totals.ChunksReleased > 0);
        rig.CheckAll();
    }

    [Fact]
    public void Shutdown_wakes_the_background_worker_instead_of_compacting_on_the_caller()
    {
        using var rig = new CompactionRig(placement: Interleaving);
        VirtualMachine a = rig.AddVm(2048), b = rig.AddVm(2048), c = rig.AddVm(2048);
        rig.FillInterleaved(2048, a, b, c);
        rig.DestroyVm(c); // not compacted: the worker's first look finds work
        rig.Compactor.Start(new CompactionOptions { Interval = TimeSpan.FromHours(1), MinimumExcessChunks = 1 });
        Wait.Until(() => rig.Compactor.Statistics.Runs == 1);
        var movers = new System.Collections.Concurrent.ConcurrentBag<string?>();
        rig.Compactor.BeforeSwitch = _ => movers.Add(Thread.CurrentThread.Name);
        rig.Gmm.CompactOnVmShutdown = true;

        rig.DestroyVm(b);

        Wait.Until(() => rig.Compactor.Statistics.Runs == 2); // long before the hour is up: woken
        rig.Compactor.Stop();
        Assert.NotEmpty(movers);
        Assert.All(movers, name => Assert.Equal("gmm-compactor", name));
        Assert.Equal(rig.Gmm.Statistics.MinimumChunks, rig.ChunksInUse);
        rig.CheckAll();
    }
}
