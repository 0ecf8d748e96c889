using System.Runtime.CompilerServices;
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
/// monitored entry that was read; the page it replaces is retired and freed once readers moved on.
/// Because fusion's own re-arming rebuilds the entry a page had when it was hashed, a segment's merges
/// are sent before its arming, and a private twin counts only while it is still marked hashed.</para>
/// <para><b>Threads.</b> One pass at a time (<c>_passLock</c> guards the tables, the per-range state and
/// the batches). The scanner never changes a page entry itself: it sends <see cref="PageUpdateBatch"/>
/// requests to the VM, and never waits for readers inside an access section or under a VM lock. The
/// running totals have their own small lock (<c>_statsLock</c>).</para>
/// <para><b>Compilation.</b> The per-page methods are compiled fully optimised from their first call
/// (<see cref="MethodImplOptions.AggressiveOptimization"/>): a pass is a few long calls over all of
/// guest RAM, so tiered compilation's quick first code would otherwise run most of the first pass.</para>
/// </remarks>
public sealed partial class PageFusion : IDisposable
{
    private const int SegmentPages = 512;
    private readonly GlobalMemoryManager _manager;
    private readonly ILogger _log;
    private readonly Lock _passLock = new();
    private readonly Lock _threadLock = new();
    private readonly ConditionalWeakTable<MemoryRange, RangeFusionState> _ranges = [];
    private readonly PageUpdateBatch _arming = new(SegmentPages);
    private readonly MergeQueue _merges;
    private long _armedTag;
    private readonly Lock _statsLock = new();
    private PassCounters _totals;
    private long _passes;
    private long _cpuTicks;
    private BackgroundLoop? _loop;

    internal PageFusion(GlobalMemoryManager manager)
    {
        _manager = manager;
        _log = manager.LoggerFactory.CreateLogger<PageFusion>();
        // A segment's pages plus, at most, one twin for each of them.
        _merges = new MergeQueue(manager.Pages, 2 * SegmentPages);
    }

    /// <summary>True while the background scanner runs.</summary>
    public bool IsRunning { get { lock (_threadLock) return _loop?.IsRunning == true; } }

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
            Gmm.GmmStatistics gmm = _manager.Pages.GetStatistics();
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
    /// <exception cref="GmmException"><see cref="GmmError.InvalidArgument"/> for options out of range.</exception>
    /// <exception cref="InvalidOperationException">The scanner already runs.</exception>
    public void Start(FusionOptions? options = null)
    {
        options ??= new FusionOptions();
        options.Validate();
        lock (_threadLock)
        {
            if (_loop?.IsRunning == true) throw new InvalidOperationException("page fusion is already running");
            _loop?.Dispose();
            _loop = new BackgroundLoop("gmm-fusion", token => BackgroundPass(options, token), options.PassInterval,
                e => _log.LogError(e, "page fusion stopped after an unexpected error"), options.IdlePriority);
            _loop.Start();
        }
    }

    /// <summary>Stops the background scanner and waits for it to finish its current segment.</summary>
    public void Stop()
    {
        BackgroundLoop? loop;
        lock (_threadLock) (loop, _loop) = (_loop, null);
        loop?.Dispose();
    }

    /// <summary>Stops the scanner.</summary>
    public void Dispose() => Stop();

    /// <summary>One pass of the background scanner within its budget; a failed pass is logged and retried later.</summary>
    private bool BackgroundPass(FusionOptions options, CancellationToken token)
    {
        try
        {
            RunPassCore(new WorkBudget(options.PagesPerSecond, options.CpuFraction, token));
        }
        catch (Exception e) when (e is GmmException or ObjectDisposedException)
        {
            _log.LogWarning(e, "page fusion pass failed; retrying after the pass interval");
        }
        return false;
    }

    private FusionPassResult RunPassCore(WorkBudget? budget)
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
                SharingTable table = TableFor(vm);
                foreach (MemoryRange range in vm.Memory.Ranges)
                {
                    if (range.Type != GuestPageType.Ram) continue;
                    RangeFusionState state = _ranges.GetValue(range, r => new RangeFusionState(r.PageCount));
                    for (int start = 0; start < range.PageCount; start += SegmentPages)
                    {
                        ApplySharedMoves(); // before any lookup, so a duplicate finds a page the compactor moved
                        int end = (int)Math.Min(range.PageCount, start + SegmentPages);
                        var segment = new PassCounters();
                        try
                        {
                            // Merges before arming, and also after a failed scan: a twin examined here, then
                            // written and re-armed by this segment's own arming, would have exactly the entry
                            // its queued merge expects again (the arming clears the written-to flag), and a
                            // merge left queued would meet a later segment's arming the same way.
                            try { ScanSegment(vm, range, state, table, start, end, passNumber, ref segment); }
                            finally { _merges.Send(ref segment); }
                            SendArming(range, state, vm, ref segment);
                        }
                        finally
                        {
                            _arming.Clear(); // after a failure, nothing queued here may be sent by a later segment
                        }
                        pass = pass.Plus(segment);
                        lock (_statsLock) _totals = _totals.Plus(segment);
                        if (budget?.Throttle(pass.Examined + pass.Armed) == false) return Finish(pass, cpuStart);
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
        PruneTables();
        Interlocked.Add(ref _cpuTicks, (ThreadCpuTime.Now() - cpuStart).Ticks);
        return pass.ToResult();
    }
}
