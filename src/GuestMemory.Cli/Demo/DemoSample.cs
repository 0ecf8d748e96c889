using GuestMemory.Gmm;
using GuestMemory.Host;
using GuestMemory.Phys;

namespace GuestMemory.Cli.Demo;

/// <summary>One moment of the demo: what the host pays against what the guests were promised.</summary>
internal sealed record DemoSample(
    double Seconds, long RssBytes, long PromisedBytes, long BudgetBytes, long AllocatedPages,
    long ZeroPages, long SharedReferences, long SavedBySharing, long BalloonedPages, int Chunks, int Vms)
{
    /// <summary>Reads the figures now.</summary>
    public static DemoSample Take(double seconds, GlobalMemoryManager gmm, long promisedBytes, long budgetBytes)
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
        return new DemoSample(seconds, HostRss.ReadCounterBytes(), promisedBytes, budgetBytes, g.AllocatedPages,
            zero, shared, shared - g.SharedPages, g.BalloonedPages, g.Chunks, g.Vms);
    }
}
