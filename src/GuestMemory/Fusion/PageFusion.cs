using System.Runtime.CompilerServices;
using GuestMemory.Gmm;
using GuestMemory.Host;
using GuestMemory.Phys;
using Microsoft.Extensions.Logging;

namespace GuestMemory.Fusion;

/// <summary>
/// Page fusion (seed: "Sharing a page"): an idle-priority scanner that finds identical and all-zero
/// guest pages and shares them copy-on-write. <see cref="RunPass"/> does one pass synchronously;
/// <see cref="Start"/> runs passes on a background thread within a CPU or page budget.
/// </summary>
/// <remarks>
/// <para><b>A page's way through the scanner.</b> An Allocated page is first armed for write
/// monitoring. If at a later pass it is still Write-Monitored, it stayed unwritten for a whole pass: it
/// is examined. An all-zero page goes back to the zero page; any other is hashed and looked up in its
/// sharing domain's <see cref="SharingTable"/>. A hit is compared byte by byte; equal pages are merged
/// into one shared page (a new page in the Gmm's shared set, or an existing one). A page found written
/// since it was armed becomes more volatile and is visited only every 2^n passes.</para>
/// <para><b>Why merges cannot lose a write.</b> Content is read only from pages armed before the
/// <see cref="AccessEpoch.WaitForReaders"/> at the start of the pass, so no writer that saw the page
/// before it was armed is still writing; a later writer finds it monitored and changes its entry under
/// the VM lock. The merge itself is a request that replaces the entry only if it is still exactly the
/// monitored entry that was read; the page it replaces is retired and freed once readers moved on.</para>
/// <para><b>Threads.</b> One pass at a time (<c>_passLock</c> guards the tables, the per-range state and
/// the batches). The scanner never changes a page entry itself: it sends <see cref="PageUpdateBatch"/>
/// requests to the VM. The running totals have their own small lock (<c>_statsLock</c>).</para>
/// </remarks>
public sealed unsafe class PageFusion : IDisposable
{
    private const int SegmentPages = 512;
    private readonly GlobalMemoryManager _manager;
    private readonly ILogger _log;
    private readonly Lock _passLock = new();
    private readonly Lock _threadLock = new();
    private readonly Dictionary<string, SharingTable> _tables = [];
    private readonly ConditionalWeakTable<MemoryRange, RangeFusionState> _ranges = [];
    private readonly PageUpdateBatch _arming = new(SegmentPages);
    private readonly Dictionary<VirtualMachine, MergeBatch> _merges = [];
    private readonly PageId[] _dropBuffer = new PageId[SegmentPages];
    private long _armedTag;
    private readonly Lock _statsLock = new();
    private PassCounters _totals;
    private long _passes;
    private long _cpuTicks;
    private Thread? _thread;
    private CancellationTokenSource? _stop;

    internal PageFusion(GlobalMemoryManager manager)
    {
        _manager = manager;
        _log = manager.LoggerFactory.CreateLogger<PageFusion>();
    }

    /// <summary>True while the background scanner runs.</summary>
    public bool IsRunning { get { lock (_threadLock) return _thread != null; } }

    /// <summary>Running totals, updated after every segment of 512 pages.</summary>
    public FusionStatistics Statistics
    {
        get
        {
            long cow = 0;
            foreach (VirtualMachine vm in _manager.Vms)
            {
                try { cow += vm.Memory.GetStatistics().CopyOnWriteBreaks; }
                catch (GmmException) { /* destroyed meanwhile */ }
            }
            GmmStatistics gmm = _manager.Pages.GetStatistics();
            PassCounters t;
            lock (_statsLock) t = _totals;
            return new FusionStatistics
            {
                Passes = Volatile.Read(ref _passes),
                PagesScanned = t.Examined,
                PagesArmed = t.Armed,
                PagesMerged = t.Merged,
                SharedPagesCreated = t.Created,
                ZeroPagesReclaimed = t.Zeroed,
                VolatileSkips = t.VolatileSkips,
                LostRaces = t.LostRaces,
                BytesScanned = t.Bytes,
                ScanCpuTime = TimeSpan.FromTicks(Volatile.Read(ref _cpuTicks)),
                CopyOnWriteBreaks = cow,
                SharingReferences = gmm.SharedPages + gmm.DuplicatePages,
            };
        }
    }

    /// <summary>Runs one whole pass over every VM that allows sharing, now, on the calling thread.</summary>
    /// <remarks>Must not be called from inside an access section (it waits for readers).</remarks>
    public FusionPassResult RunPass() => RunPassCore(null);

    /// <summary>Starts the background scanner (idle priority) within <paramref name="options"/>' budget.</summary>
    public void Start(FusionOptions? options = null)
    {
        options ??= new FusionOptions();
        options.Validate();
        lock (_threadLock)
        {
            if (_thread != null) throw new InvalidOperationException("page fusion is already running");
            _stop = new CancellationTokenSource();
            CancellationToken token = _stop.Token;
            _thread = new Thread(() => Loop(options, token)) { IsBackground = true, Name = "gmm-fusion" };
            _thread.Start();
        }
    }

    /// <summary>Stops the background scanner and waits for it to finish its current segment.</summary>
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

    /// <summary>Stops the scanner.</summary>
    public void Dispose() => Stop();

    private void Loop(FusionOptions options, CancellationToken token)
    {
        IdleScheduling.MakeCurrentThreadIdle();
        while (!token.IsCancellationRequested)
        {
            try
            {
                RunPassCore(new Budget(options, token));
            }
            catch (Exception e) when (e is GmmException or ObjectDisposedException)
            {
                _log.LogWarning(e, "page fusion pass failed; retrying after the pass interval");
            }
            token.WaitHandle.WaitOne(options.PassInterval);
        }
    }

    private FusionPassResult RunPassCore(Budget? budget)
    {
        lock (_passLock)
        {
            TimeSpan cpuStart = ThreadCpuTime.Now();
            var pass = new PassCounters();
            // Pages armed by earlier passes may be read only once every access that began before their
            // arming has ended: from then on, every writer goes through the monitored entry.
            AccessEpoch.WaitForReaders(_armedTag);
            long passNumber = _passes + 1;
            foreach (VirtualMachine vm in _manager.Vms)
            {
                if (!vm.Options.PageSharing || vm.IsDestroyed) continue;
                SharingTable table = TableFor(vm.Options.SharingDomain);
                foreach (MemoryRange range in vm.Memory.Ranges)
                {
                    if (range.Type != GuestPageType.Ram) continue;
                    RangeFusionState state = _ranges.GetValue(range, r => new RangeFusionState(r.PageCount));
                    for (int start = 0; start < range.PageCount; start += SegmentPages)
                    {
                        int end = (int)Math.Min(range.PageCount, start + SegmentPages);
                        var segment = new PassCounters();
                        ScanSegment(vm, range, state, table, start, end, passNumber, ref segment);
                        SendMerges(ref segment);
                        pass = pass.Plus(segment);
                        lock (_statsLock) _totals = _totals.Plus(segment);
                        if (budget?.Throttle(pass.Examined + pass.Armed, cpuStart) == false) return Finish(pass, cpuStart);
                    }
                }
            }
            return Finish(pass, cpuStart);
        }
    }

    private FusionPassResult Finish(PassCounters pass, TimeSpan cpuStart)
    {
        _armedTag = AccessEpoch.Current;
        Volatile.Write(ref _passes, _passes + 1);
        _manager.Deferred.ReclaimAll(); // merged and zeroed pages go back to the Gmm now...
        _manager.Pages.SettleFreedPages(); // ...and their memory to the host
        Interlocked.Add(ref _cpuTicks, (ThreadCpuTime.Now() - cpuStart).Ticks);
        return new FusionPassResult(pass.Examined, pass.Armed, pass.Merged, pass.Created, pass.Zeroed, pass.VolatileSkips, pass.Bytes);
    }

    private SharingTable TableFor(string domain)
    {
        if (!_tables.TryGetValue(domain, out SharingTable? table)) _tables[domain] = table = new SharingTable();
        return table;
    }

    /// <summary>Visits one segment: arms Allocated pages, examines pages that stayed unwritten.</summary>
    private void ScanSegment(VirtualMachine vm, MemoryRange range, RangeFusionState state, SharingTable table, int start, int end, long passNumber, ref PassCounters pass)
    {
        for (int i = start; i < end; i++)
        {
            ulong e = GuestPhysicalMemory.ReadEntry(range, i);
            if (GuestPage.IsLocked(e)) continue;
            switch (GuestPage.State(e))
            {
                case GuestPageState.Allocated:
                {
                    int volatility = GuestPage.Volatility(e);
                    if (state.IsArmed(i)) volatility = Math.Min(volatility + 1, GuestPage.MaxVolatility); // written since armed
                    state.Forget(i);
                    bool skip = volatility > 0 && ((passNumber + i) & ((1L << volatility) - 1)) != 0;
                    if (skip) pass.VolatileSkips++;
                    ulong next = skip
                        ? GuestPage.WithVolatility(e, volatility)
                        : GuestPage.WithVolatility(GuestPage.WithState(e, GuestPageState.WriteMonitored) & ~GuestPage.WrittenToFlag, volatility);
                    if (next != e) _arming.Add(range.Start + ((ulong)i << Paging.PageShift), e, next, PageId.Nil);
                    break;
                }
                case GuestPageState.WriteMonitored:
                    if (!state.IsArmed(i)) state.SetArmed(i); // armed by another layer: examine after the next grace period
                    else if (!state.IsHashed(i)) Examine(vm, range, state, table, i, e, ref pass);
                    break;
                default:
                    state.Forget(i);
                    break;
            }
        }
        SendArming(vm, range, state, ref pass);
    }

    private void SendArming(VirtualMachine vm, MemoryRange range, RangeFusionState state, ref PassCounters pass)
    {
        try
        {
            _arming.SendTo(vm.Memory);
            foreach (ref readonly PageUpdate u in _arming.Updates.AsSpan(0, _arming.Count))
            {
                if (!u.Applied || GuestPage.State(u.Replacement) != GuestPageState.WriteMonitored) continue;
                state.SetArmed((int)((u.Address - range.Start) >> Paging.PageShift));
                pass.Armed++;
            }
        }
        finally
        {
            _arming.Clear();
        }
    }

    /// <summary>Zero-checks and hashes one monitored page, then merges it with its twin if it has one.</summary>
    private void Examine(VirtualMachine vm, MemoryRange range, RangeFusionState state, SharingTable table, int index, ulong e, ref PassCounters pass)
    {
        ulong address = range.Start + ((ulong)index << Paging.PageShift);
        AccessEpoch.Section section = AccessEpoch.Enter();
        try
        {
            ReadOnlySpan<byte> content = PageSpan(vm, GuestPage.Page(e));
            pass.Examined++;
            pass.Bytes += Paging.PageSize;
            if (PageContent.IsZero(content))
            {
                Queue(vm, address, e, GuestPage.WithState(e, GuestPageState.Zero, PageId.Nil) & ~GuestPage.WrittenToFlag, PageId.Nil, MergeKind.Zero);
                return;
            }
            ulong hash = PageHash.Compute(content);
            if (!table.TryGet(hash, out SharingTable.Candidate twin))
            {
                table.Set(hash, SharingTable.Candidate.ForPrivate(vm, range, index, e));
                state.SetHashed(index);
                return;
            }
            if (twin.IsShared) JoinShared(vm, address, e, content, twin.Shared, hash, table, state, index, range, ref pass);
            else Pair(vm, address, e, content, twin, hash, table, state, index, range, ref pass);
        }
        catch (GmmException ex) when (ex.Error is GmmError.VmNotFound or GmmError.VmDestroyed)
        {
            // The VM went away while we looked at it.
        }
        finally
        {
            section.Exit();
        }
    }

    private void JoinShared(VirtualMachine vm, ulong address, ulong e, ReadOnlySpan<byte> content, PageId shared, ulong hash,
        SharingTable table, RangeFusionState state, int index, MemoryRange range, ref PassCounters pass)
    {
        try
        {
            _manager.Pages.AddSharedReference(vm.Handle, shared);
        }
        catch (GmmException ex) when (ex.Error is GmmError.PageNotShared or GmmError.PageNotFound)
        {
            // The shared page was freed since: this page becomes the candidate for its hash.
            table.Set(hash, SharingTable.Candidate.ForPrivate(vm, range, index, e));
            state.SetHashed(index);
            return;
        }
        pass.Bytes += Paging.PageSize;
        if (!PageContent.Equal(content, PageSpan(vm, shared)))
        {
            _manager.Pages.FreePages(vm.Handle, GmmAccount.Base, [shared]); // a hash collision: keep the shared page's entry
            return;
        }
        Queue(vm, address, e, SharedEntry(e, shared), shared, MergeKind.Merge);
    }

    private void Pair(VirtualMachine vm, ulong address, ulong e, ReadOnlySpan<byte> content, SharingTable.Candidate twin, ulong hash,
        SharingTable table, RangeFusionState state, int index, MemoryRange range, ref PassCounters pass)
    {
        VirtualMachine other = twin.Vm!;
        if (other == vm && twin.Range == range && twin.Index == index) return;
        ulong twinAddress = twin.Range!.Start + ((ulong)twin.Index << Paging.PageShift);
        bool stale = other.IsDestroyed || GuestPhysicalMemory.ReadEntry(twin.Range, twin.Index) != twin.Entry;
        ReadOnlySpan<byte> twinContent = stale ? default : PageSpan(vm, GuestPage.Page(twin.Entry));
        if (!stale) pass.Bytes += Paging.PageSize;
        if (stale || !PageContent.Equal(content, twinContent))
        {
            table.Set(hash, SharingTable.Candidate.ForPrivate(vm, range, index, e));
            state.SetHashed(index);
            return;
        }
        PageId shared;
        try
        {
            shared = _manager.Pages.AllocateSharedPage(vm.Handle, PageHash.Checksum(hash));
        }
        catch (GmmException ex) when (ex.Error is GmmError.HitGlobalLimit or GmmError.HostOutOfMemory)
        {
            return; // no room for the shared copy now; the next pass tries again
        }
        Span<byte> copy = new(_manager.Pages.PageAddress(shared), Paging.PageSize);
        content.CopyTo(copy);
        if (!PageContent.Equal(copy, twinContent))
        {
            // The page changed while it was copied (its merge would be refused anyway).
            _manager.Pages.FreePages(vm.Handle, GmmAccount.Base, [shared]);
            return;
        }
        pass.Created++;
        table.Set(hash, SharingTable.Candidate.ForShared(shared));
        Queue(vm, address, e, SharedEntry(e, shared), shared, MergeKind.Merge);
        try
        {
            _manager.Pages.AddSharedReference(other.Handle, shared);
            Queue(other, twinAddress, twin.Entry, SharedEntry(twin.Entry, shared), shared, MergeKind.Merge);
        }
        catch (GmmException ex) when (ex.Error is GmmError.VmNotFound)
        {
            // The twin's VM is gone: this page still moves to the shared page.
        }
    }

    private static ulong SharedEntry(ulong monitored, PageId shared) =>
        GuestPage.WithState(monitored, GuestPageState.Shared, shared) & ~GuestPage.WrittenToFlag;

    private ReadOnlySpan<byte> PageSpan(VirtualMachine vm, PageId page) => new(_manager.Pages.PageAddress(page), Paging.PageSize);

    private void Queue(VirtualMachine vm, ulong address, ulong expected, ulong replacement, PageId reference, MergeKind kind)
    {
        if (!_merges.TryGetValue(vm, out MergeBatch? batch)) _merges[vm] = batch = new MergeBatch(2 * SegmentPages);
        batch.Add(address, expected, replacement, GuestPage.Page(expected), reference, kind);
    }

    /// <summary>Sends every VM its merges; a refused merge gives back the shared reference taken for it.</summary>
    private void SendMerges(ref PassCounters pass)
    {
        foreach ((VirtualMachine vm, MergeBatch batch) in _merges)
        {
            if (batch.Requests.Count == 0) continue;
            try
            {
                batch.Requests.SendTo(vm.Memory);
                int drops = 0;
                for (int i = 0; i < batch.Requests.Count; i++)
                {
                    bool applied = batch.Requests.Updates[i].Applied;
                    if (applied && batch.Kinds[i] == MergeKind.Zero) pass.Zeroed++;
                    else if (applied) pass.Merged++;
                    else
                    {
                        pass.LostRaces++;
                        if (!batch.References[i].IsNil) _dropBuffer[drops++] = batch.References[i];
                        if (drops == _dropBuffer.Length) { _manager.Pages.FreePages(vm.Handle, GmmAccount.Base, _dropBuffer); drops = 0; }
                    }
                }
                if (drops > 0) _manager.Pages.FreePages(vm.Handle, GmmAccount.Base, _dropBuffer.AsSpan(0, drops));
            }
            catch (GmmException ex) when (ex.Error is GmmError.VmNotFound or GmmError.VmDestroyed)
            {
                // The VM was destroyed: its references went with it.
            }
            finally
            {
                batch.Clear();
            }
        }
        foreach (VirtualMachine gone in _merges.Keys.Where(v => v.IsDestroyed).ToArray()) _merges.Remove(gone);
    }

    private enum MergeKind : byte { Merge, Zero }

    /// <summary>Pending merges for one VM: the requests plus, per request, the shared reference to give back if it is refused.</summary>
    private sealed class MergeBatch(int capacity)
    {
        public PageUpdateBatch Requests { get; } = new(capacity);
        public PageId[] References { get; } = new PageId[capacity];
        public MergeKind[] Kinds { get; } = new MergeKind[capacity];

        public void Add(ulong address, ulong expected, ulong replacement, PageId retire, PageId reference, MergeKind kind)
        {
            References[Requests.Count] = reference;
            Kinds[Requests.Count] = kind;
            Requests.Add(address, expected, replacement, retire);
        }

        public void Clear() => Requests.Clear();
    }

    /// <summary>Counters of one pass (and, summed, of all passes).</summary>
    private struct PassCounters
    {
        public long Examined, Armed, Merged, Created, Zeroed, VolatileSkips, LostRaces, Bytes;

        public readonly PassCounters Plus(PassCounters o) => new()
        {
            Examined = Examined + o.Examined, Armed = Armed + o.Armed, Merged = Merged + o.Merged, Created = Created + o.Created,
            Zeroed = Zeroed + o.Zeroed, VolatileSkips = VolatileSkips + o.VolatileSkips, LostRaces = LostRaces + o.LostRaces, Bytes = Bytes + o.Bytes,
        };
    }

    /// <summary>The background scanner's budget: sleeps so pages/s and CPU share stay within the options.</summary>
    private sealed class Budget(FusionOptions options, CancellationToken token)
    {
        private readonly long _wallStart = Environment.TickCount64;

        /// <summary>Sleeps as needed; returns false when the scanner is being stopped.</summary>
        public bool Throttle(long pagesDone, TimeSpan cpuStart)
        {
            double wallMs = Environment.TickCount64 - _wallStart;
            double waitMs = 0;
            if (options.PagesPerSecond > 0) waitMs = Math.Max(waitMs, pagesDone * 1000.0 / options.PagesPerSecond - wallMs);
            if (options.CpuFraction < 1) waitMs = Math.Max(waitMs, (ThreadCpuTime.Now() - cpuStart).TotalMilliseconds / options.CpuFraction - wallMs);
            if (waitMs >= 1) token.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(Math.Min(waitMs, 1000)));
            return !token.IsCancellationRequested;
        }
    }
}
