using GuestMemory.Gmm;
using GuestMemory.Host;
using GuestMemory.Phys;

namespace GuestMemory.Cli.Demo;

/// <summary>
/// One moment of the demo: what the host pays against what the guests were promised and what they
/// really use. <see cref="RssBytes"/> is real RSS above the process's baseline (what the budget limits).
/// </summary>
internal sealed record DemoSample(
    double Seconds, long RssBytes, long PromisedBytes, long BudgetBytes, long GuestUsedBytes, long AllocatedPages,
    long ZeroPages, long SharedReferences, long SavedBySharing, long BalloonedPages, int Chunks, int Vms)
{
    /// <summary>Reads the figures now; <paramref name="guestUsedBytes"/> is what the running guests' workloads hold.</summary>
    public static DemoSample Take(double seconds, GlobalMemoryManager gmm, long baselineRss, long promisedBytes, long budgetBytes, long guestUsedBytes)
    {
        long zero = 0, shared = 0;
        foreach (VirtualMachine vm in gmm.Vms)
        {
            try
            {
                GuestMemoryStatistics s = vm.Memory.GetStatistics();
                zero += s.ZeroPages;
                shared += s.SharedPages;
            }
            catch (GmmException e) when (e.Error == GmmError.VmDestroyed) { }
        }
        GmmStatistics g = gmm.Statistics;
        // The VMs' shared references and the Gmm's shared pages are read a moment apart: the saving is never below 0.
        long savedBySharing = Math.Max(0, shared - g.SharedPages);
        return new DemoSample(seconds, Math.Max(0, HostRss.ReadCounterBytes() - baselineRss), promisedBytes, budgetBytes, guestUsedBytes, g.AllocatedPages,
            zero, shared, savedBySharing, g.BalloonedPages, g.Chunks, g.Vms);
    }
}

/// <summary>Something the demo did at a moment of its run, marked in the report's plots.</summary>
internal sealed record DemoEvent(double Seconds, string Label);
