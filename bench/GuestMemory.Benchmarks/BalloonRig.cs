using System.Diagnostics;
using GuestMemory.Balloon;
using GuestMemory.Simulation;
using GuestMemory.Gmm;
using GuestMemory.Host;

namespace GuestMemory.Benchmarks;

/// <summary>
/// The system <see cref="BalloonBench"/> measures: one manager, VMs with simulated guests on their own
/// threads, and the balloon controller on real RSS against a budget of half the guests' RAM above the
/// process's own footprint (2x over-commit). The Gmm's own limit is all of the guests' RAM, so only the
/// controller keeps RSS under the budget. Records every settle time the balloons report.
/// </summary>
/// <remarks><c>_lock</c> guards the settle records, which the guests' threads add to.</remarks>
internal sealed class BalloonRig : IDisposable
{
    public const int IdleMib = 16;
    private readonly Lock _lock = new();
    private readonly List<(int Vm, long At, double Ms)> _settles = [];
    private readonly TimeSpan _period;

    public BalloonRig(BalloonBenchOptions options)
    {
        _period = options.Period;
        long ram = (long)options.RamMib << 20;
        long guestBudget = options.Vms * ram / 2;
        Manager = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = options.Vms * ram, OvercommitRatio = 2 });
        Vms = new VirtualMachine[options.Vms];
        Guests = new SimulatedGuest[options.Vms];
        for (int i = 0; i < options.Vms; i++)
        {
            Vms[i] = Manager.CreateVm(new VmOptions { Name = $"vm-{i}", RamSize = ram });
            Guests[i] = new SimulatedGuest(Vms[i], new SimulatedGuestOptions { Seed = i }) { WorkingSetPages = Pages(IdleMib) };
            int index = i;
            Vms[i].Balloon.Settled += (_, waited) => { lock (_lock) _settles.Add((index, Stopwatch.GetTimestamp(), waited.TotalMilliseconds)); };
        }
        GC.Collect();
        BudgetBytes = HostRss.ReadCounterBytes() + guestBudget;
        Controller = new BalloonController(Manager, new BalloonControllerOptions { HostBudgetBytes = BudgetBytes, Period = options.Period });
        Controller.Start();
        foreach (SimulatedGuest guest in Guests) guest.Start();
    }

    public GlobalMemoryManager Manager { get; }
    public VirtualMachine[] Vms { get; }
    public SimulatedGuest[] Guests { get; }
    public BalloonController Controller { get; }
    public long BudgetBytes { get; }

    public static long Pages(long mib) => (mib << 20) / Paging.PageSize;

    /// <summary>Each VM's private host pages now.</summary>
    public long[] PrivatePages() => Vms.Select(vm => vm.Accounts.PrivatePages).ToArray();

    /// <summary>Settle times recorded at or after <paramref name="since"/> (a Stopwatch timestamp).</summary>
    public List<(int Vm, long At, double Ms)> SettlesSince(long since)
    {
        lock (_lock) return _settles.Where(s => s.At >= since).ToList();
    }

    /// <summary>
    /// Waits until every guest has the working set it wants, no guest asks for pages, every balloon is at
    /// its target and the controller has changed nothing for two periods. False on timeout.
    /// </summary>
    public bool WaitQuiet(TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        long decisions = -1;
        var unchangedSince = TimeSpan.Zero;
        while (clock.Elapsed < timeout)
        {
            bool settled = Guests.All(g => g.Status.WantedPages == 0 && g.Status.UsedPages == g.WorkingSetPages) && Vms.All(vm => vm.Balloon.IsSettled);
            long now = Controller.Counters.Decisions;
            if (!settled || now != decisions) (decisions, unchangedSince) = (now, clock.Elapsed);
            else if (clock.Elapsed - unchangedSince >= 2 * _period) return true;
            Thread.Sleep(2);
        }
        return false;
    }

    /// <summary>Everything the guests did wrong or had refused, summed.</summary>
    public (long ContentErrors, long RefusedWrites, Exception? Fault) GuestHealth() =>
        (Guests.Sum(g => g.Counters.ContentErrors), Guests.Sum(g => g.Counters.AllocationFailures), Guests.Select(g => g.Fault).FirstOrDefault(f => f != null));

    public void Dispose()
    {
        Controller.Dispose();
        foreach (SimulatedGuest guest in Guests) guest.Dispose();
        Manager.Dispose();
    }
}
