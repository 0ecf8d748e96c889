using System.Runtime.CompilerServices;
using GuestMemory.Gmm;
using GuestMemory.Phys;

namespace GuestMemory.Fusion;

public sealed partial class PageFusion
{
    /// <summary>
    /// The most volatile a page gets: visited every 256 passes. (The entry has room for 15, but a page
    /// that settles should not wait hours for its next visit.)
    /// </summary>
    private const int MaxVolatility = 8;

    /// <summary>Test hook: runs after a page was examined, before the rest of its segment (a test writes another page here).</summary>
    internal Action<VirtualMachine, int>? AfterExamine { get; set; }

    /// <summary>
    /// Visits one segment: queues the arming of Allocated pages (and of monitored ones written since fusion
    /// armed them) and examines pages that stayed unwritten, queueing their merges. The caller sends the
    /// merges first and the arming after (see <see cref="RunPassCore"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void ScanSegment(VirtualMachine vm, MemoryRange range, RangeFusionState state, SharingTable table, int start, int end, long passNumber, ref PassCounters pass)
    {
        for (int i = start; i < end; i++)
        {
            ulong e = GuestPhysicalMemory.ReadEntry(range, i);
            if (GuestPage.IsLocked(e)) continue;
            switch (GuestPage.State(e))
            {
                case GuestPageState.Allocated:
                    Arm(range, state, i, e, passNumber, ref pass);
                    break;
                case GuestPageState.WriteMonitored:
                    // Written since fusion armed it (fusion's arming clears the written-to flag, a write sets it,
                    // other layers' armings keep it), then armed again by another layer, maybe after this
                    // pass's wait for readers: a writer may still be copying in. Arm it afresh and wait a pass.
                    if (GuestPage.IsWrittenTo(e)) Arm(range, state, i, e, passNumber, ref pass);
                    else if (!state.IsArmed(i)) state.SetArmed(i); // armed by another layer: examine after the next grace period
                    else if (!state.IsHashed(i))
                    {
                        Examine(vm, range, state, table, i, e, ref pass);
                        AfterExamine?.Invoke(vm, i);
                    }
                    break;
                default:
                    state.Forget(i);
                    break;
            }
        }
    }

    /// <summary>
    /// Queues the arming of an Allocated page, unless it is volatile and not due this pass (volatile
    /// pages are visited only every 2^volatility passes, staggered by page index so the visits spread
    /// out). A page the scanner armed that is Allocated again was written since: if that happened before
    /// it could even be examined it is more volatile; if it first stayed unwritten long enough to be
    /// examined, less. So a page settles at about log2 of its rewrite period, in passes, and a page that
    /// stops changing loses its volatility again.
    /// </summary>
    private void Arm(MemoryRange range, RangeFusionState state, int i, ulong e, long passNumber, ref PassCounters pass)
    {
        int volatility = GuestPage.Volatility(e);
        if (state.IsArmed(i)) volatility = Math.Clamp(volatility + (state.IsHashed(i) ? -1 : 1), 0, MaxVolatility);
        state.Forget(i);
        bool skip = volatility > 0 && ((passNumber + i) & ((1L << volatility) - 1)) != 0;
        if (skip) pass.VolatileSkips++;
        ulong next = skip
            ? GuestPage.WithVolatility(e, volatility)
            : GuestPage.WithVolatility(GuestPage.WithState(e, GuestPageState.WriteMonitored) & ~GuestPage.WrittenToFlag, volatility);
        if (next != e) _arming.Add(range.Start + ((ulong)i << Paging.PageShift), e, next, PageId.Nil);
    }

    /// <summary>Sends the segment's arming request and remembers which pages it armed (the caller clears the batch).</summary>
    private void SendArming(MemoryRange range, RangeFusionState state, VirtualMachine vm, ref PassCounters pass)
    {
        _arming.SendTo(vm.Memory);
        foreach (ref readonly PageUpdate u in _arming.Updates.AsSpan(0, _arming.Count))
        {
            if (!u.Applied || GuestPage.State(u.Replacement) != GuestPageState.WriteMonitored) continue;
            state.SetArmed((int)((u.Address - range.Start) >> Paging.PageShift));
            pass.Armed++;
        }
    }
}
