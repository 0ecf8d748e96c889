using GuestMemory.Compaction;
using GuestMemory.Gmm;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Compaction;

/// <summary>
/// The idle-priority worker: it compacts on its own when chunks in use exceed the minimum by enough,
/// keeps to its budget by pausing between batches, and stops cleanly in the middle of a run.
/// </summary>
public sealed class BackgroundCompactorTests
{
    [Fact]
    public void The_worker_packs_fragmented_memory_on_its_own()
    {
        using var rig = new CompactionRig();
        VirtualMachine a = rig.AddVm(2048), b = rig.AddVm(2048);
        rig.Fragment(2048, a, b);
        // Every page outside the fullest chunks that can hold them all has to move; how full each chunk is
        // depends on where the handy-page batches landed, so the bound is read, not assumed.
        int mustMove = LeastPagesToMove(rig);
        Assert.True(mustMove > 0, "the rig is not fragmented");

        rig.Compactor.Start(new CompactionOptions { Interval = TimeSpan.FromMilliseconds(10) });
        Assert.True(rig.Compactor.IsRunning);
        // Totals land when a run ends. (The excess alone can touch zero mid-run, while copies and the
        // pages they replace are both allocated.)
        Wait.Until(() => rig.Compactor.Statistics.PrivatePagesMoved >= mustMove);
        rig.Compactor.Stop();

        Assert.False(rig.Compactor.IsRunning);
        Assert.True(rig.Compactor.Statistics.Runs >= 1);
        Assert.Equal(0, rig.Compactor.MeasureFragmentation().ExcessChunks);
        rig.CheckAll();
    }

    [Fact]
    public void The_worker_leaves_memory_alone_while_the_excess_is_below_its_threshold()
    {
        using var rig = new CompactionRig();
        VirtualMachine vm = rig.AddVm(2048);
        rig.Fragment(2048, vm);
        int excess = rig.Compactor.MeasureFragmentation().ExcessChunks;

        rig.Compactor.Start(new CompactionOptions { Interval = TimeSpan.FromMilliseconds(5), MinimumExcessChunks = excess + 1 });
        Thread.Sleep(200); // dozens of looks
        rig.Compactor.Stop();
        Assert.Equal(0, rig.Compactor.Statistics.Runs);

        rig.Compactor.Start(new CompactionOptions { Interval = TimeSpan.FromMilliseconds(5), MinimumExcessChunks = excess });
        Wait.Until(() => rig.Compactor.Statistics.Runs >= 1);
        rig.Compactor.Stop();
        rig.CheckAll();
    }

    [Fact]
    public void A_run_over_its_page_budget_pauses_between_batches_and_stops_cleanly_midway()
    {
        using var rig = new CompactionRig();
        VirtualMachine vm = rig.AddVm(8 * Paging.PagesPerChunk);
        rig.Fragment(8 * Paging.PagesPerChunk, vm); // four chunks of 256 pages to move: two batches or more
        PageId[] before = HostPages(rig, vm);

        // One page a second: after its first batch the run waits for minutes, until it is stopped.
        rig.Compactor.Start(new CompactionOptions { Interval = TimeSpan.FromMilliseconds(5), PagesPerSecond = 1, CpuFraction = 1 });
        Wait.Until(() => HostPages(rig, vm).Where((p, i) => p != before[i]).Any());
        rig.Compactor.Stop();

        CompactionStatistics totals = rig.Compactor.Statistics;
        Assert.Equal(1, totals.Runs);
        Assert.InRange(totals.PrivatePagesMoved, 1, PrivatePageMover.BatchSize);
        rig.CheckAll();
        // The chunks it was emptying are back in allocation: a write lands, and a full run finishes the job.
        rig.WriteUnique(vm, 2, version: 1);
        rig.Compactor.Run();
        Assert.Equal(0, rig.Compactor.MeasureFragmentation().ExcessChunks);
        rig.CheckAll();
    }

    [Fact]
    public void Starting_twice_is_refused_and_stopping_an_idle_worker_does_nothing()
    {
        using var rig = new CompactionRig();

        rig.Compactor.Stop();
        rig.Compactor.Start(new CompactionOptions { Interval = TimeSpan.FromHours(1) });

        Assert.Throws<InvalidOperationException>(() => rig.Compactor.Start());
        Assert.True(rig.Compactor.IsRunning);
        rig.Compactor.Stop();
        rig.Compactor.Stop();
        Assert.False(rig.Compactor.IsRunning);
    }

    [Fact]
    public void Disposing_the_manager_stops_the_worker()
    {
        var rig = new CompactionRig();
        rig.Compactor.Start(new CompactionOptions { Interval = TimeSpan.FromMilliseconds(5) });

        rig.Dispose();

        Assert.False(rig.Compactor.IsRunning);
    }

    private static PageId[] HostPages(CompactionRig rig, VirtualMachine vm) =>
        Enumerable.Range(0, (int)(vm.Options.RamSize >> Paging.PageShift)).Select(p => rig.HostPage(vm, p)).ToArray();

    /// <summary>Live pages outside the fullest chunks that could hold every live page: the fewest moves that leave no excess chunk.</summary>
    private static int LeastPagesToMove(CompactionRig rig)
    {
        int[] live = rig.Gmm.Pages.GetChunkOccupancy().Select(c => c.PrivatePages + c.SharedPages).OrderDescending().ToArray();
        int minimum = (live.Sum() + Paging.PagesPerChunk - 1) / Paging.PagesPerChunk;
        return live.Skip(minimum).Sum();
    }
}
