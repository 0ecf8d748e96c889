using GuestMemory.Gmm;
using GuestMemory.Host;
using GuestMemory.Phys;
using Microsoft.Extensions.Logging;

namespace GuestMemory.Compaction;

/// <summary>
/// Compaction (seed: "Fragmentation Concerns and Counter Measures"): moves the pages out of sparsely
/// used chunks into fuller ones and gives the emptied chunks back to the host. Runs on demand
/// (<see cref="Run"/>), at VM shutdown, and from an idle-priority background worker with a budget.
/// </summary>
/// <remarks>
/// <para><b>How a page moves.</b> The chunks to empty are taken out of allocation first, so nothing new
/// lands in them and no page moves twice. A private page is armed for write monitoring through a VM
/// request; once every access that began before the arming has ended, its content is copied into a
/// page of a fuller chunk, and a second request replaces the monitored entry with one naming the copy
/// (same state and flags) if — and only if — the entry is still exactly the monitored one: a write in
/// between turned it back to Allocated, the request is refused and the copy freed. A shared page is
/// copied once and every entry naming it is switched to the copy the same way. The old page is retired
/// and goes back to the Gmm once no reader can hold it; an emptied chunk then goes back to the host.</para>
/// <para>Mapped pages, ROM pages and pages the Gmm cannot place yet are left where they are.</para>
/// <para><b>Threads.</b> One run at a time (<c>_runLock</c>); the compactor never changes entries
/// itself, it sends <see cref="PageUpdateBatch"/> requests. Totals are guarded by <c>_statsLock</c>.</para>
/// </remarks>
public sealed unsafe class Compactor : IDisposable
{
    private const int BatchSize = 256;
    private readonly GlobalMemoryManager _manager;
    private readonly ILogger _log;
    private readonly Lock _runLock = new();
    private readonly Lock _statsLock = new();
    private readonly Lock _threadLock = new();
    private readonly PageUpdateBatch _batch = new(BatchSize);
    private CompactionStatistics _totals = new();
    private Thread? _thread;
    private CancellationTokenSource? _stop;
    private readonly AutoResetEvent _wake = new(false);

    internal Compactor(GlobalMemoryManager manager)
    {
        _manager = manager;
        _log = manager.LoggerFactory.CreateLogger<Compactor>();
    }

    /// <summary>Running totals.</summary>
    public CompactionStatistics Statistics { get { lock (_statsLock) return _totals; } }

    /// <summary>True while the background worker runs.</summary>
    public bool IsRunning { get { lock (_threadLock) return _thread != null; } }

    /// <summary>Chunks in use against the minimum, and real RSS against allocated pages.</summary>
    public FragmentationFigures MeasureFragmentation()
    {
        GmmStatistics s = _manager.Pages.GetStatistics();
        return new FragmentationFigures
        {
            Chunks = s.Chunks,
            MinimumChunks = s.MinimumChunks,
            AllocatedPages = s.AllocatedPages,
            DiscardedFreePages = s.DiscardedFreePages,
            RssBytes = HostRss.ReadBytes(),
        };
    }

    /// <summary>Compacts now, on the calling thread. Must not be called inside an access section.</summary>
    public CompactionResult Run(CompactionOptions? options = null) => RunCore(options ?? new CompactionOptions(), null);

    /// <summary>Starts the idle-priority background worker.</summary>
    public void Start(CompactionOptions? options = null)
    {
        options ??= new CompactionOptions();
        options.Validate();
        lock (_threadLock)
        {
            if (_thread != null) throw new InvalidOperationException("the compactor is already running");
            _stop = new CancellationTokenSource();
            CancellationToken token = _stop.Token;
            _thread = new Thread(() => Loop(options, token)) { IsBackground = true, Name = "gmm-compactor" };
            _thread.Start();
        }
    }

    /// <summary>Stops the background worker and waits for it.</summary>
    public void Stop()
    {
        Thread? thread;
        lock (_threadLock)
        {
            thread = _thread;
            _stop?.Cancel();
            _thread = null;
        }
        thread?.Join();
    }

    /// <summary>Stops the worker.</summary>
    public void Dispose()
    {
        Stop();
        _wake.Dispose();
    }

    /// <summary>A VM went away: its chunks may now be sparse. Wakes the worker, or compacts now if none runs.</summary>
    internal void OnVmDestroyed()
    {
        if (IsRunning) _wake.Set();
        else Run();
    }

    private void Loop(CompactionOptions options, CancellationToken token)
    {
        IdleScheduling.MakeCurrentThreadIdle();
        while (!token.IsCancellationRequested)
        {
            try
            {
                FragmentationFigures f = MeasureFragmentation();
                if (f.Chunks - f.MinimumChunks >= options.MinimumExcessChunks)
                    RunCore(options, new WorkBudget(options.PagesPerSecond, options.CpuFraction, token));
            }
            catch (Exception e) when (e is GmmException or ObjectDisposedException)
            {
                _log.LogWarning(e, "compaction run failed; retrying after the interval");
            }
            WaitHandle.WaitAny([token.WaitHandle, _wake], options.Interval);
        }
    }

    private CompactionResult RunCore(CompactionOptions options, WorkBudget? budget)
    {
        options.Validate();
        lock (_runLock)
        {
            long started = Environment.TickCount64;
            PageManager gmm = _manager.Pages;
            int chunksBefore = gmm.GetStatistics().Chunks;
            var run = new RunCounters();
            List<int> evacuating = PickChunks(options);
            foreach (VirtualMachine vm in _manager.Vms) vm.Memory.ReturnHandyPages();
            var vms = _manager.Vms.ToDictionary(v => v.Handle);
            try
            {
                foreach (int chunk in evacuating)
                {
                    if (budget?.Throttle(run.PrivateMoved + run.SharedMoved) == false) break;
                    EvacuateChunk(chunk, vms, ref run);
                    _manager.Deferred.ReclaimAll(); // the old pages go back, and the emptied chunk with them
                }
            }
            finally
            {
                foreach (int chunk in evacuating) gmm.EndEvacuation(chunk);
            }
            if (options.ReleaseSpareChunks) gmm.ReleaseSpareChunks();
            int released = Math.Max(0, chunksBefore - gmm.GetStatistics().Chunks);
            var result = new CompactionResult(evacuating.Count, released, run.PrivateMoved, run.SharedMoved, run.Refused, TimeSpan.FromMilliseconds(Environment.TickCount64 - started));
            lock (_statsLock)
            {
                _totals = _totals with
                {
                    Runs = _totals.Runs + 1,
                    ChunksReleased = _totals.ChunksReleased + released,
                    PrivatePagesMoved = _totals.PrivatePagesMoved + run.PrivateMoved,
                    SharedPagesMoved = _totals.SharedPagesMoved + run.SharedMoved,
                    MovesRefused = _totals.MovesRefused + run.Refused,
                };
            }
            _log.LogInformation("compaction emptied {Evacuated} chunks, gave back {Released}, moved {Private} private and {Shared} shared pages",
                result.ChunksEvacuated, result.ChunksReleased, result.PrivatePagesMoved, result.SharedPagesMoved);
            return result;
        }
    }

    /// <summary>The sparse chunks, emptiest first, taken out of allocation.</summary>
    private List<int> PickChunks(CompactionOptions options)
    {
        int limit = (int)(options.SparseThreshold * Paging.PagesPerChunk);
        var picked = new List<int>();
        foreach (ChunkOccupancy c in _manager.Pages.GetChunkOccupancy().Where(c => !c.Spare && c.UsedPages > 0 && c.UsedPages <= limit).OrderBy(c => c.UsedPages))
        {
            if (picked.Count == options.MaxChunksPerRun) break;
            if (_manager.Pages.BeginEvacuation(c.ChunkId)) picked.Add(c.ChunkId);
        }
        return picked;
    }

    private void EvacuateChunk(int chunkId, Dictionary<VmHandle, VirtualMachine> vms, ref RunCounters run)
    {
        IReadOnlyList<(int Index, HostPageInfo Page)> pages;
        try { pages = _manager.Pages.GetChunkPages(chunkId); }
        catch (GmmException e) when (e.Error == GmmError.ChunkNotFound) { return; } // emptied meanwhile
        foreach (IGrouping<VmHandle, (int Index, HostPageInfo Page)> mine in pages.Where(p => p.Page.State == HostPageState.Private).GroupBy(p => p.Page.Owner))
        {
            if (vms.TryGetValue(mine.Key, out VirtualMachine? vm) && !vm.IsDestroyed)
                MovePrivatePages(vm, chunkId, mine.Select(p => (p.Index, p.Page.GuestFrame)).ToList(), ref run);
        }
        List<PageId> shared = pages.Where(p => p.Page.State == HostPageState.Shared).Select(p => PageId.From(chunkId, p.Index)).ToList();
        if (shared.Count > 0) MoveSharedPages(shared, vms.Values, ref run);
    }

    /// <summary>Arms, waits for readers, copies, and switches each page's entry to its copy.</summary>
    private void MovePrivatePages(VirtualMachine vm, int chunkId, List<(int Index, ulong GuestFrame)> pages, ref RunCounters run)
    {
        GuestPhysicalMemory memory = vm.Memory;
        for (int start = 0; start < pages.Count; start += BatchSize)
        {
            // 1. Arm write monitoring on the pages that still sit where the Gmm says.
            var monitored = new List<(ulong Address, ulong Entry)>();
            foreach ((int index, ulong frame) in pages.Skip(start).Take(BatchSize))
            {
                ulong address = frame << Paging.PageShift;
                if (frame == PageDescriptor.NoGuestFrame || !memory.TryLocate(address, out MemoryRange range, out int at)) continue;
                ulong e = GuestPhysicalMemory.ReadEntry(range, at);
                if (GuestPage.Page(e) != PageId.From(chunkId, index) || GuestPage.Type(e) != GuestPageType.Ram || GuestPage.IsLocked(e)) continue;
                if (GuestPage.State(e) == GuestPageState.Allocated) _batch.Add(address, e, GuestPage.WithState(e, GuestPageState.WriteMonitored), PageId.Nil);
                else if (GuestPage.State(e) == GuestPageState.WriteMonitored) monitored.Add((address, e));
            }
            Send(memory);
            foreach (ref readonly PageUpdate u in _batch.Updates.AsSpan(0, _batch.Count))
                if (u.Applied) monitored.Add((u.Address, u.Replacement));
            _batch.Clear();
            if (monitored.Count == 0) continue;

            // 2. No access that saw the page before it was armed is still running: copy and switch.
            AccessEpoch.WaitForReaders(AccessEpoch.Current);
            var copies = new PageId[monitored.Count];
            for (int i = 0; i < monitored.Count; i++)
            {
                (ulong address, ulong e) = monitored[i];
                copies[i] = _manager.Pages.AllocateMoveTarget(vm.Handle, address >> Paging.PageShift);
                CopyPage(GuestPage.Page(e), copies[i]);
                _batch.Add(address, e, GuestPage.WithState(e, GuestPageState.WriteMonitored, copies[i]), GuestPage.Page(e));
            }
            Send(memory);
            var refused = new List<PageId>();
            for (int i = 0; i < monitored.Count; i++)
            {
                if (_batch.Updates[i].Applied) run.PrivateMoved++;
                else refused.Add(copies[i]);
            }
            _batch.Clear();
            run.Refused += refused.Count;
            if (refused.Count > 0) GiveBack(vm, refused.ToArray());
        }
    }

    /// <summary>Copies each shared page once and switches every entry that names it to the copy.</summary>
    private void MoveSharedPages(List<PageId> shared, IEnumerable<VirtualMachine> vms, ref RunCounters run)
    {
        var wanted = shared.ToHashSet();
        var users = new Dictionary<PageId, List<(VirtualMachine Vm, ulong Address, ulong Entry)>>();
        foreach (VirtualMachine vm in vms)
        {
            if (vm.IsDestroyed) continue;
            foreach (MemoryRange range in vm.Memory.Ranges)
            {
                if (range.Type != GuestPageType.Ram) continue;
                for (int i = 0; i < range.PageCount; i++)
                {
                    ulong e = GuestPhysicalMemory.ReadEntry(range, i);
                    if (GuestPage.State(e) != GuestPageState.Shared || !wanted.Contains(GuestPage.Page(e)) || GuestPage.IsLocked(e)) continue;
                    if (!users.TryGetValue(GuestPage.Page(e), out var list)) users[GuestPage.Page(e)] = list = [];
                    list.Add((vm, range.Start + ((ulong)i << Paging.PageShift), e));
                }
            }
        }
        foreach ((PageId old, List<(VirtualMachine Vm, ulong Address, ulong Entry)> list) in users)
        {
            (uint checksum, _) = _manager.Pages.GetSharedPageInfo(old);
            PageId copy = _manager.Pages.AllocateSharedPage(list[0].Vm.Handle, checksum);
            CopyPage(old, copy);
            bool firstReferenceUsed = false;
            foreach (IGrouping<VirtualMachine, (VirtualMachine Vm, ulong Address, ulong Entry)> mine in list.GroupBy(u => u.Vm))
            {
                VirtualMachine vm = mine.Key;
                foreach ((_, ulong address, ulong e) in mine)
                {
                    // AllocateSharedPage gave the first user's reference; every other entry takes its own.
                    if (vm == list[0].Vm && !firstReferenceUsed) firstReferenceUsed = true;
                    else _manager.Pages.AddSharedReference(vm.Handle, copy);
                    _batch.Add(address, e, GuestPage.WithState(e, GuestPageState.Shared, copy), old);
                    if (_batch.IsFull) SendShared(vm, copy, ref run);
                }
                SendShared(vm, copy, ref run);
            }
        }
    }

    /// <summary>Sends switched shared entries; gives back the references of the refused ones.</summary>
    private void SendShared(VirtualMachine vm, PageId copy, ref RunCounters run)
    {
        if (_batch.Count == 0) return;
        Send(vm.Memory);
        int refused = 0;
        foreach (ref readonly PageUpdate u in _batch.Updates.AsSpan(0, _batch.Count))
        {
            if (u.Applied) run.SharedMoved++;
            else refused++;
        }
        _batch.Clear();
        run.Refused += refused;
        if (refused > 0) GiveBack(vm, Enumerable.Repeat(copy, refused).ToArray());
    }

    /// <summary>Frees copies whose move was refused (never installed, so no reader can hold them).</summary>
    private void GiveBack(VirtualMachine vm, PageId[] pages)
    {
        try
        {
            _manager.Pages.FreePages(vm.Handle, GmmAccount.Base, pages);
        }
        catch (GmmException e) when (e.Error == GmmError.VmNotFound)
        {
            // The VM was destroyed meanwhile, and its pages with it.
        }
    }

    private void Send(GuestPhysicalMemory memory)
    {
        try
        {
            _batch.SendTo(memory);
        }
        catch (GmmException e) when (e.Error == GmmError.VmDestroyed)
        {
            // Every update counts as refused.
        }
    }

    private void CopyPage(PageId from, PageId to)
    {
        AccessEpoch.Section section = AccessEpoch.Enter();
        new ReadOnlySpan<byte>(_manager.Pages.PageAddress(from), Paging.PageSize).CopyTo(new Span<byte>(_manager.Pages.PageAddress(to), Paging.PageSize));
        section.Exit();
    }

    private struct RunCounters
    {
        public long PrivateMoved, SharedMoved, Refused;
    }
}
