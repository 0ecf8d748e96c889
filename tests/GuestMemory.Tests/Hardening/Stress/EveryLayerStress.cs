using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using GuestMemory.Compaction;
using GuestMemory.Fusion;
using GuestMemory.Gmm;
using GuestMemory.Migration;
using GuestMemory.Phys;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Hardening.Stress;

/// <summary>
/// Every layer at once on two over-committed hosts, with a content check for every guest page: vCPU
/// writers and readers (accessors and the plain API), background fusion and compaction on both hosts,
/// balloon inflates and deflates, saves and restores, live moves back and forth over loopback TCP, VMs
/// created and destroyed, and a thread reading every figure. Each kind of work has a thread of its own
/// and a checker that knows what every page must hold (<see cref="StressContent"/>). A hang fails with
/// every thread's stack (<see cref="Watchdog"/>).
/// </summary>
internal sealed class EveryLayerStress : IDisposable
{
    private const int TenantPages = 4096, WriterPages = 3072, ColdPages = 1024, TravellerPages = 1024;
    private readonly GlobalMemoryManager _a, _b;
    private readonly MigrationEndpoint _toA = new(IPAddress.Loopback, 0), _toB = new(IPAddress.Loopback, 0);
    private readonly Tenant[] _tenants;
    private readonly ConcurrentQueue<string> _failures = new();
    private readonly DateTime _end;
    private long _writes, _reads, _refusals, _inflates, _deflates, _saves, _restores, _moves, _churned, _observations;

    public EveryLayerStress(TimeSpan duration)
    {
        _end = DateTime.UtcNow + duration;
        _a = new GlobalMemoryManager(new GmmOptions { Name = "stress-a", HostMemoryLimit = 48L << 20, OvercommitRatio = 4 });
        _b = new GlobalMemoryManager(new GmmOptions { Name = "stress-b", HostMemoryLimit = 32L << 20, OvercommitRatio = 4 });
        _tenants = [.. Enumerable.Range(0, 3).Select(i => new Tenant(i, _a.CreateVm(new VmOptions { Name = $"tenant-{i}", RamSize = (long)TenantPages * Paging.PageSize })))];
        foreach (GlobalMemoryManager host in new[] { _a, _b })
        {
            host.Fusion.Start(new FusionOptions { PassInterval = TimeSpan.FromMilliseconds(50), CpuFraction = 0.5, IdlePriority = false });
            host.Compactor.Start(new CompactionOptions { Interval = TimeSpan.FromMilliseconds(200), MinimumExcessChunks = 1 });
        }
    }

    /// <summary>The figures of a run: what each thread did.</summary>
    public string Figures =>
        $"{_writes:N0} writes, {_reads:N0} read checks, {_refusals:N0} writes refused at a limit, {_inflates:N0} inflates, {_deflates:N0} deflates, " +
        $"{_saves:N0} saves, {_restores:N0} restores, {_moves:N0} moves, {_churned:N0} VMs created and destroyed, {_observations:N0} observations; " +
        $"fusion merged {_a.Fusion.Statistics.PagesMerged + _b.Fusion.Statistics.PagesMerged:N0} pages, " +
        $"compaction moved {_a.Compactor.Statistics.PrivatePagesMoved + _a.Compactor.Statistics.SharedPagesMoved:N0} pages";

    public long Moves => _moves;
    public long Writes => _writes;
    public long Saves => _saves;

    /// <summary>Runs every thread until the end, then checks every page and both managers; returns the failures.</summary>
    public IReadOnlyCollection<string> Run(TimeSpan hangLimit)
    {
        Action[] work = [.. _tenants.Select(t => Guarded($"writer {t.Index}", () => Write(t))), Guarded("balloon", Balloon), Guarded("saver", SaveAndRestore),
                         Guarded("mover", Move), Guarded("churn", Churn), Guarded("observer", Observe)];
        Watchdog.Run(hangLimit, work);
        foreach (GlobalMemoryManager host in new[] { _a, _b })
        {
            host.Fusion.Stop();
            host.Compactor.Stop();
        }
        foreach (Tenant t in _tenants) CheckAll(t.Vm, t.Index, t.Versions, "at the end");
        foreach (GlobalMemoryManager host in new[] { _a, _b })
        {
            host.ReclaimRetiredPages();
            foreach (string problem in host.FindInconsistencies()) _failures.Enqueue($"{host.Name}: {problem}");
        }
        return _failures;
    }

    private Action Guarded(string name, Action work) => () =>
    {
        try { work(); }
        catch (Exception e) { _failures.Enqueue($"{name}: {e}"); }
    };

    private bool Running => DateTime.UtcNow < _end && _failures.IsEmpty;

    /// <summary>A vCPU: whole-page writes through an accessor, read checks through the plain API.</summary>
    private void Write(Tenant t)
    {
        var random = new Random(100 + t.Index);
        byte[] page = new byte[Paging.PageSize], scratch = new byte[Paging.PageSize];
        while (Running)
        {
            int index = random.Next(WriterPages);
            ulong address = (ulong)index * Paging.PageSize;
            if (random.Next(10) < 6)
            {
                int version = t.Versions[index] + 1;
                StressContent.Fill(page, t.Index, index, version);
                try
                {
                    GuestMemoryAccessor accessor = t.Vm.Memory.OpenAccessor();
                    try { accessor.Write(address, page); }
                    finally { accessor.Dispose(); }
                    t.Versions[index] = version;
                    Interlocked.Increment(ref _writes);
                }
                catch (GmmException e) when (e.Error is GmmError.HitGlobalLimit or GmmError.HitVmAccountLimit)
                {
                    Interlocked.Increment(ref _refusals);
                }
            }
            else
            {
                t.Vm.Memory.Read(address, page);
                if (!StressContent.Holds(page, t.Index, index, t.Versions[index], scratch))
                    _failures.Enqueue($"tenant {t.Index} page {index} does not hold version {t.Versions[index]}");
                Interlocked.Increment(ref _reads);
            }
        }
    }

    /// <summary>Inflates and deflates the tenants' balloon regions (pages their writers never touch), which always read zero.</summary>
    private void Balloon()
    {
        var random = new Random(7);
        var ballooned = _tenants.Select(_ => new HashSet<int>()).ToArray();
        byte[] page = new byte[Paging.PageSize];
        while (Running)
        {
            int t = random.Next(_tenants.Length);
            VirtualMachine vm = _tenants[t].Vm;
            if (random.Next(2) == 0 || ballooned[t].Count == 0)
            {
                int[] batch = [.. Enumerable.Range(0, 16).Select(_ => WriterPages + random.Next(TenantPages - WriterPages)).Distinct().Where(p => !ballooned[t].Contains(p))];
                vm.Memory.InflateBalloon([.. batch.Select(p => (ulong)p * Paging.PageSize)]);
                ballooned[t].UnionWith(batch);
                Interlocked.Increment(ref _inflates);
            }
            else
            {
                int[] batch = [.. ballooned[t].OrderBy(_ => random.Next()).Take(16)];
                vm.Memory.DeflateBalloon([.. batch.Select(p => (ulong)p * Paging.PageSize)]);
                ballooned[t].ExceptWith(batch);
                Interlocked.Increment(ref _deflates);
            }
            int probe = WriterPages + random.Next(TenantPages - WriterPages);
            vm.Memory.Read((ulong)probe * Paging.PageSize, page);
            if (page.AsSpan().ContainsAnyExcept((byte)0)) _failures.Enqueue($"tenant {t} balloon-region page {probe} is not zero");
        }
    }

    /// <summary>A VM of its own: writes, saves, writes more, restores, and checks that every page is as saved; reads through mappings too.</summary>
    private void SaveAndRestore()
    {
        var random = new Random(8);
        VirtualMachine cold = _a.CreateVm(new VmOptions { Name = "cold", RamSize = (long)ColdPages * Paging.PageSize });
        int[] versions = new int[ColdPages];
        byte[] page = new byte[Paging.PageSize], scratch = new byte[Paging.PageSize];
        while (Running)
        {
            WriteSome(cold, 10, versions, random, 64, page);
            var state = new MemoryStream();
            cold.SaveState(state);
            int[] saved = (int[])versions.Clone();
            Interlocked.Increment(ref _saves);
            WriteSome(cold, 10, versions, random, 64, page);
            state.Position = 0;
            try
            {
                cold.RestoreState(state);
                versions = saved;
                Interlocked.Increment(ref _restores);
            }
            catch (GmmException e) when (e.Error is GmmError.HitGlobalLimit or GmmError.HitVmAccountLimit or GmmError.ReservationDeclined)
            {
                Interlocked.Increment(ref _refusals); // refused up front or while staging: the VM is as it was
            }
            CheckAll(cold, 10, versions, "after a restore");
            int mapped = random.Next(ColdPages);
            using ReadMapping mapping = cold.Memory.MapForRead((ulong)mapped * Paging.PageSize);
            if (!StressContent.Holds(mapping.Span, 10, mapped, versions[mapped], scratch)) _failures.Enqueue($"cold page {mapped} reads wrong through a mapping");
        }
    }

    /// <summary>A VM that moves between the two hosts over loopback TCP, written between moves and checked after each.</summary>
    private void Move()
    {
        var random = new Random(9);
        VirtualMachine traveller = _a.CreateVm(new VmOptions { Name = "traveller", RamSize = (long)TravellerPages * Paging.PageSize });
        int[] versions = new int[TravellerPages];
        byte[] page = new byte[Paging.PageSize];
        bool onA = true;
        while (Running)
        {
            WriteSome(traveller, 20, versions, random, 128, page);
            (GlobalMemoryManager target, MigrationEndpoint endpoint) = onA ? (_b, _toB) : (_a, _toA);
            Task<ReceivedVm> receive = Task.Run(() =>
            {
                using NetworkStream connection = endpoint.Accept();
                return target.ReceiveVm(connection);
            });
            try
            {
                traveller.MoveTo(MigrationEndpoint.Connect("127.0.0.1", endpoint.Port), () => { }, () => { });
            }
            catch (GmmException e) when (e.Error is GmmError.MigrationAborted or GmmError.MigrationRefused && IsLimit(e.InnerException))
            {
                // The target is full at the moment: the VM stays and runs here.
                try { receive.GetAwaiter().GetResult(); } catch (GmmException) { }
                continue;
            }
            traveller = receive.GetAwaiter().GetResult().Vm;
            onA = !onA;
            Interlocked.Increment(ref _moves);
            CheckAll(traveller, 20, versions, "after a move");
        }
    }

    private static bool IsLimit(Exception? e) => e is GmmException { Error: GmmError.HitGlobalLimit or GmmError.ReservationDeclined or GmmError.HitVmAccountLimit };

    /// <summary>Small VMs created, written, checked, ballooned, reset and destroyed.</summary>
    private void Churn()
    {
        var random = new Random(10);
        byte[] page = new byte[Paging.PageSize];
        for (long i = 0; Running; i++)
        {
            VirtualMachine vm = _a.CreateVm(new VmOptions { Name = $"churn-{i}", RamSize = 256L * Paging.PageSize });
            int[] versions = new int[256];
            WriteSome(vm, 30, versions, random, 64, page);
            CheckAll(vm, 30, versions, "in a churned VM");
            vm.Memory.InflateBalloon([.. Enumerable.Range(200, 8).Select(p => (ulong)p * Paging.PageSize)]);
            if (random.Next(2) == 0) vm.Memory.Reset();
            _a.DestroyVm(vm);
            Interlocked.Increment(ref _churned);
        }
    }

    /// <summary>Reads every figure while the others work (figures took the manager's lock when it deadlocked).</summary>
    private void Observe()
    {
        while (Running)
        {
            foreach (GlobalMemoryManager host in new[] { _a, _b })
            {
                _ = host.Statistics;
                _ = host.Fusion.Statistics;
                _ = host.Compactor.Statistics;
                foreach (VirtualMachine vm in host.Vms)
                {
                    try
                    {
                        _ = vm.Accounts;
                        _ = vm.Memory.GetStatistics();
                    }
                    catch (GmmException e) when (e.Error == GmmError.VmDestroyed) { } // churned meanwhile
                }
            }
            Interlocked.Increment(ref _observations);
            Thread.Sleep(2);
        }
    }

    /// <summary>Writes <paramref name="count"/> random pages of a VM only this thread writes (refusals at a limit leave a page as it was).</summary>
    private void WriteSome(VirtualMachine vm, int tag, int[] versions, Random random, int count, byte[] page)
    {
        for (int n = 0; n < count; n++)
        {
            int index = random.Next(versions.Length - 64); // the last 64 pages stay free for ballooning
            StressContent.Fill(page, tag, index, versions[index] + 1);
            try
            {
                vm.Memory.Write((ulong)index * Paging.PageSize, page);
                versions[index]++;
                Interlocked.Increment(ref _writes);
            }
            catch (GmmException e) when (e.Error is GmmError.HitGlobalLimit or GmmError.HitVmAccountLimit)
            {
                Interlocked.Increment(ref _refusals);
            }
        }
    }

    private void CheckAll(VirtualMachine vm, int tag, int[] versions, string when)
    {
        byte[] page = new byte[Paging.PageSize], scratch = new byte[Paging.PageSize];
        for (int index = 0; index < versions.Length; index++)
        {
            vm.Memory.Read((ulong)index * Paging.PageSize, page);
            if (!StressContent.Holds(page, tag, index, versions[index], scratch))
                _failures.Enqueue($"{vm.Name} page {index} does not hold version {versions[index]} {when}");
        }
        Interlocked.Add(ref _reads, versions.Length);
    }

    public void Dispose()
    {
        _toA.Dispose();
        _toB.Dispose();
        _a.Dispose();
        _b.Dispose();
    }

    private sealed class Tenant(int index, VirtualMachine vm)
    {
        public int Index { get; } = index;
        public VirtualMachine Vm { get; } = vm;
        public int[] Versions { get; } = new int[TenantPages];
    }
}
