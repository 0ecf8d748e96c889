using System.Runtime.CompilerServices;
using GuestMemory.Gmm;

namespace GuestMemory.Phys;

/// <summary>
/// The primitives the saved-state layer (GuestMemory.State) needs from guest-physical memory: a
/// snapshot of the ranges, the claim on the dirty flag, the VM's base reservation, and the one-step
/// commit of a restored image.
/// </summary>
public sealed unsafe partial class GuestPhysicalMemory
{
    /// <summary>1 while a live save (or a migration) owns the entries' DIRTY flags.</summary>
    private int _dirtyTrackingClaimed;

    /// <summary>The current range array (never changed in place: registration swaps in a new one).</summary>
    /// <exception cref="GmmException"><see cref="GmmError.VmDestroyed"/>.</exception>
    internal MemoryRange[] RangeSnapshot()
    {
        ThrowIfDestroyed();
        return Volatile.Read(ref _ranges);
    }

    /// <summary>
    /// Claims the DIRTY flags of the entries for one tracker (a live save or a migration): the tracker
    /// clears them when it sends a page, so two trackers would hide pages from each other.
    /// </summary>
    internal bool TryClaimDirtyTracking() => Interlocked.CompareExchange(ref _dirtyTrackingClaimed, 1, 0) == 0;

    internal void ReleaseDirtyTracking() => Volatile.Write(ref _dirtyTrackingClaimed, 0);

    /// <summary>Raises (or, negative, lowers) the VM's base reservation; false when the Gmm declines.</summary>
    internal bool ChangeBaseReservation(long pages) => GrowReservation(pages);

    /// <summary>
    /// Replaces every RAM and ROM entry with its staged entry in one step under the VM lock (a staged
    /// <see cref="GuestPage.Unchanged"/> keeps the entry), then gives the host pages the old entries used
    /// back once readers have moved on (seed: freeing at restore). <paramref name="beforePublish"/> runs under
    /// the lock first, with the change in ballooned pages; it does the fallible Gmm accounting, so if it
    /// throws no entry has changed.
    /// </summary>
    /// <param name="ranges">The range array the image was staged against; any registration since is a layout change.</param>
    /// <param name="staged">One array per range in <paramref name="ranges"/> (empty for MMIO), in <see cref="GuestPage"/> format.</param>
    /// <param name="beforePublish">Called with (ballooned pages after - ballooned pages now).</param>
    /// <exception cref="GmmException"><see cref="GmmError.VmDestroyed"/>, <see cref="GmmError.StateLayoutMismatch"/>,
    /// <see cref="GmmError.PageLocked"/> while a page is mapped, or what <paramref name="beforePublish"/> throws: nothing changed.</exception>
    /// <remarks>
    /// A migration commits inside the guest's downtime, so this is two tight passes over the entries,
    /// compiled fully optimised from the first call: one checks for mappings and counts the states that
    /// go and come (a histogram, no branch per state), the other swaps the entries; the per-state counts
    /// are moved once at the end, still under the lock.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal void CommitRestore(MemoryRange[] ranges, PageEntryTable[] staged, Action<long> beforePublish)
    {
        Span<long> leaving = stackalloc long[8], coming = stackalloc long[8];
        using (_lock.Enter())
        {
            ThrowIfDestroyed();
            if (!ReferenceEquals(_ranges, ranges))
                throw new GmmException(GmmError.StateLayoutMismatch, "ranges were registered while the saved state was being read");
            CountChange(ranges, staged, leaving, coming); // throws PageLocked while a page is mapped
            beforePublish(coming[(int)GuestPageState.Ballooned] - leaving[(int)GuestPageState.Ballooned]);
            for (int r = 0; r < ranges.Length; r++)
            {
                PageEntryTable entries = ranges[r].Entries, image = staged[r];
                for (int i = 0; i < entries.Length; i++)
                {
                    if (image[i] == GuestPage.Unchanged) continue;
                    ulong old = entries[i];
                    // Every page was rewritten: dirty for a live save or migration that tracks this VM.
                    Volatile.Write(ref entries[i], image[i] | GuestPage.DirtyFlag);
                    if (GuestPage.HasHostPage(old)) Retire(GuestPage.Page(old), GuestPage.State(old));
                }
            }
            for (int state = 0; state < _stateCounts.Length; state++) _stateCounts[state] += coming[state] - leaving[state];
            FlushRetired(); // the old pages stop backing their frames in the Gmm, then wait for readers
        }
        GiveBackNow();
    }

    /// <summary>
    /// Under the lock: the states of the entries the staged image replaces (<paramref name="leaving"/>) and
    /// of their replacements (<paramref name="coming"/>), by state; throws if any page is mapped.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void CountChange(MemoryRange[] ranges, PageEntryTable[] staged, Span<long> leaving, Span<long> coming)
    {
        for (int r = 0; r < ranges.Length; r++)
        {
            PageEntryTable entries = ranges[r].Entries, image = staged[r];
            for (int i = 0; i < entries.Length; i++)
            {
                ulong old = entries[i];
                if (GuestPage.IsLocked(old)) throw new GmmException(GmmError.PageLocked, $"a page of {ranges[r]} is still mapped; dispose every mapping first");
                if (image[i] == GuestPage.Unchanged) continue;
                leaving[(int)GuestPage.State(old)]++;
                coming[(int)GuestPage.State(image[i])]++;
            }
        }
    }
}
