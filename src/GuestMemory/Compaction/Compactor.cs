using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using GuestMemory.Gmm;
using GuestMemory.Host;
using Microsoft.Extensions.Logging;

namespace GuestMemory.Compaction;

/// <summary>
/// Compaction (seed: "Fragmentation Concerns and Counter Measures"): moves the pages out of sparsely
/// used chunks into fuller ones and gives the emptied chunks back to the host. Runs on demand
/// (<see cref="Run"/>), at VM shutdown, and from an idle-priority background worker with a budget.
/// </summary>
/// <remarks>
/// <para><b>A run.</b> Pages waiting for readers go back first, so the figures are current. The chunks
/// to empty are chosen (<see cref="EvacuationPlanner"/>) and taken out of allocation, so nothing new
/// lands in them and no page moves twice; the VMs give back their handy pages, so none pins a chunk (and
/// report the guest frames of the ones they used). Then, a group of chunks at a time, emptiest first:
/// private pages move by VM (<see cref="PrivatePageMover"/>), shared pages one by one with all their
/// users (<see cref="SharedPageMover"/>), and once every reader of the old pages has moved on they go
/// back to the Gmm, which returns each emptied chunk to the host.</para>
/// <para>Mapped pages, ROM pages and pages of the shadow and fixed accounts stay where they are; their
/// chunk goes back to allocation at the end of the run.</para>
/// <para><b>Threads.</b> One run at a time (<c>_runLock</c>). The compactor never changes an entry
/// itself: it sends compare-and-replace requests, and it never waits for readers under a VM lock or
/// inside an access section. Totals are guarded by <c>_statsLock</c>, the worker (a <see cref="BackgroundLoop"/>) by <c>_threadLock</c>.</para>
/// </remarks>
public sealed class Compactor : IDisposable
{
    /// <summary>Chunks emptied between two returns of the old pages: bounds the memory held twice during a run.</summary>
    private const int GroupChunks = 16;

    private readonly GlobalMemoryManager _manager;
    private readonly ILogger _log;
    private readonly Lock _runLock = new();
    private readonly Lock _statsLock = new();
    private readonly Lock _threadLock = new();
    private readonly PrivatePageMover _private;
    private readonly SharedPageMover _shared;
    private readonly List<MovablePage> _privatePages = [];
    /// <summary>The group's private pages by VM handle (reused lists: a VM's pages go to it in one run of batches).</summary>
    private List<MovablePage>[] _byVm = [];
    private readonly List<PageId> _sharedPages = [];
    private CompactionStatistics _totals = new();
    private BackgroundLoop? _loop;

    internal Compactor(GlobalMemoryManager manager)
    {
        _manager = manager;
        _log = manager.LoggerFactory.CreateLogger<Compactor>();
        _private = new PrivatePageMover(manager.Pages, manager.Deferred);
        _shared = new SharedPageMover(manager);
    }

    /// <summary>Running totals.</summary>
    public CompactionStatistics Statistics { get { lock (_statsLock) return _totals; } }

    /// <summary>True while the background worker runs.</summary>
    public bool IsRunning { get { lock (_threadLock) return _loop?.IsRunning == true; } }

    /// <summary>Test hook: runs after a batch of private pages is copied and before the switch is sent.</summary>
    internal Action<VirtualMachine>? BeforeSwitch
    {
        get => _private.BeforeSwitch;
        set => _private.BeforeSwitch = value;
    }

    /// <summary>Chunks in use against the minimum, and real RSS against allocated pages.</summary>
    public FragmentationFigures MeasureFragmentation()
    {
        GmmStatistics s = _manager.Pages.GetStatistics();
        return new FragmentationFigures
        {
            Chunks = s.Chunks,
            SpareChunks = s.SpareChunks,
            MinimumChunks = s.MinimumChunks,
            AllocatedPages = s.AllocatedPages,
            DiscardedFreePages = s.DiscardedFreePages,
            RssBytes = HostRss.ReadBytes(),
        };
    }

    /// <summary>Compacts now, on the calling thread. Must not be called inside an access section or while holding a VM lock.</summary>
    /// <exception cref="GmmException"><see cref="GmmError.InvalidArgument"/> for options out of range.</exception>
    public CompactionResult Run(CompactionOptions? options = null) => RunCore(options ?? new CompactionOptions(), null);

    /// <summary>Starts the idle-priority background worker.</summary>
    /// <exception cref="GmmException"><see cref="GmmError.InvalidArgument"/> for options out of range.</exception>
    /// <exception cref="InvalidOperationException">The worker already runs.</exception>
    public void Start(CompactionOptions? options = null)
    {
        options ??= new CompactionOptions();
        options.Validate();
        lock (_threadLock)
        {
            if (_loop?.IsRunning == true) throw new InvalidOperationException("the compactor is already running");
            _loop?.Dispose();
            _loop = new BackgroundLoop("gmm-compactor", token => BackgroundRun(options, token), options.Interval,
                e => _log.LogError(e, "the compactor stopped after an unexpected error"), idlePriority: true);
            _loop.Start();
        }
    }

    /// <summary>Stops the background worker and waits for it.</summary>
    public void Stop()
    {
        BackgroundLoop? loop;
        lock (_threadLock) (loop, _loop) = (_loop, null);
        loop?.Dispose();
    }

    /// <summary>Stops the worker.</summary>
    public void Dispose() => Stop();

    /// <summary>A VM went away: its chunks may now be sparse. Wakes the worker, or compacts now if none runs.</summary>
    internal void OnVmDestroyed()
    {
        BackgroundLoop? loop;
        lock (_threadLock) loop = _loop;
        if (loop?.IsRunning == true) loop.Wake();
        else Run();
    }

    /// <summary>One look of the background worker: compacts within its budget when enough chunks are in excess.</summary>
    private bool BackgroundRun(CompactionOptions options, CancellationToken token)
    {
        try
        {
            if (MeasureFragmentation().ExcessChunks >= options.MinimumExcessChunks)
                RunCore(options, new WorkBudget(options.PagesPerSecond, options.CpuFraction, token));
        }
        catch (Exception e) when (e is GmmException or ObjectDisposedException)
        {
            _log.LogWarning(e, "compaction run failed; retrying after the interval");
        }
        return false;
    }

    private CompactionResult RunCore(CompactionOptions options, WorkBudget? budget)
    {
        options.Validate();
        lock (_runLock)
        {
            long started = Stopwatch.GetTimestamp();
            PageManager gmm = _manager.Pages;
            // Pages waiting for readers and handy pages count as used: give them back before planning.
            _manager.Deferred.ReclaimAll();
            ReturnHandyPages();
            int chunksBefore = gmm.GetStatistics().Chunks;
            List<int> evacuating = EvacuationPlanner.Pick(gmm.GetChunkOccupancy(), options).Where(gmm.BeginEvacuation).ToList();
            var counters = new MoveCounters();
            try
            {
                if (evacuating.Count > 0) Evacuate(evacuating, budget, ref counters);
            }
            finally
            {
                foreach (int chunk in evacuating) gmm.EndEvacuation(chunk);
            }
            if (options.ReleaseSpareChunks) gmm.ReleaseSpareChunks();
            int released = Math.Max(0, chunksBefore - gmm.GetStatistics().Chunks);
            var result = new CompactionResult(evacuating.Count, released, counters.PrivateMoved, counters.SharedMoved, counters.Refused, Stopwatch.GetElapsedTime(started));
            Record(result);
            return result;
        }
    }

    /// <summary>Empties the chunks, a group at a time; stops early when the budget is cancelled or the host has no room.</summary>
    private void Evacuate(List<int> chunks, WorkBudget? budget, ref MoveCounters counters)
    {
        IReadOnlyList<VirtualMachine> live = ReturnHandyPages(); // again: a refill since the first return may have landed in these chunks
        var vms = live.ToDictionary(v => v.Handle);
        SharedUserIndex? users = null;
        for (int start = 0; start < chunks.Count; start += GroupChunks)
        {
            if (budget?.Throttle(counters.Moved) == false) return;
            _privatePages.Clear();
            _sharedPages.Clear();
            foreach (int chunk in chunks.Skip(start).Take(GroupChunks)) _manager.Pages.CollectMovablePages(chunk, _privatePages, _sharedPages);
            bool room = MovePrivatePages(vms, budget, ref counters);
            if (room && _sharedPages.Count > 0)
            {
                users ??= SharedUserIndex.Build(live, chunks);
                foreach (PageId page in _sharedPages)
                {
                    if (budget?.Throttle(counters.Moved) == false) break;
                    if (!(room = _shared.Move(page, users.UsersOf(page), ref counters))) break;
                }
            }
            _manager.Deferred.ReclaimAll(); // the old pages go back, and each emptied chunk with them
            if (!room) return;
        }
    }

    /// <summary>The group's private pages, VM by VM; false when the host had no room for more copies.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private bool MovePrivatePages(Dictionary<VmHandle, VirtualMachine> vms, WorkBudget? budget, ref MoveCounters counters)
    {
        foreach (MovablePage page in _privatePages)
        {
            int slot = page.Vm.Value;
            if (slot >= _byVm.Length) Array.Resize(ref _byVm, Math.Max(slot + 1, _byVm.Length * 2));
            (_byVm[slot] ??= []).Add(page);
        }
        bool room = true;
        foreach (List<MovablePage>? mine in _byVm)
        {
            if (mine is not { Count: > 0 }) continue;
            if (room && vms.TryGetValue(mine[0].Vm, out VirtualMachine? vm)) room = _private.Move(vm, CollectionsMarshal.AsSpan(mine), budget, ref counters);
            mine.Clear();
        }
        return room;
    }

    /// <summary>
    /// Every VM gives back its handy pages (and reports the guest frames of those it used), so none
    /// pins a chunk; the next first write refills them from chunks that are not being emptied.
    /// </summary>
    private IReadOnlyList<VirtualMachine> ReturnHandyPages()
    {
        IReadOnlyList<VirtualMachine> live = _manager.Vms;
        foreach (VirtualMachine vm in live) vm.Memory.ReturnHandyPages();
        return live;
    }

    private void Record(CompactionResult result)
    {
        lock (_statsLock)
        {
            _totals = _totals with
            {
                Runs = _totals.Runs + 1,
                ChunksReleased = _totals.ChunksReleased + result.ChunksReleased,
                PrivatePagesMoved = _totals.PrivatePagesMoved + result.PrivatePagesMoved,
                SharedPagesMoved = _totals.SharedPagesMoved + result.SharedPagesMoved,
                MovesRefused = _totals.MovesRefused + result.MovesRefused,
            };
        }
        if (result.ChunksEvacuated > 0)
            _log.LogInformation("compaction emptied {Evacuated} chunks, gave back {Released}, moved {Private} private and {Shared} shared pages ({Refused} refused) in {Ms:0.0} ms",
                result.ChunksEvacuated, result.ChunksReleased, result.PrivatePagesMoved, result.SharedPagesMoved, result.MovesRefused, result.Elapsed.TotalMilliseconds);
    }
}
