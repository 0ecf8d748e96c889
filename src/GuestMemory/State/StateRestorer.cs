using GuestMemory.Host;
using GuestMemory.Phys;

namespace GuestMemory.State;

/// <summary>
/// Restores a saved state into a VM (seed: pgmR3Load, with the allocation plan of the PGMPhys note):
/// check the header and the layout, allocate the header's non-zero count up front (where the Gmm may
/// refuse), stage every page in those pages, check END, then swap the whole image in under the VM lock
/// and free the pages the old image used. Any error before the swap, including a corruption found in
/// the very last bytes of a non-seekable stream, frees what was staged and leaves the VM unchanged.
/// </summary>
internal static class StateRestorer
{
    public static RestoreSummary Restore(VirtualMachine vm, Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (AccessEpoch.IsInside || vm.Memory.Lock.IsHeldByCurrentThread)
            throw new InvalidOperationException("a restore waits for readers: it cannot run inside an access section or under the VM lock");
        MemoryRange[] ranges = vm.Memory.RangeSnapshot();
        var reader = new StateReader(stream);
        StateHeader header = reader.ReadHeader();
        StateLayout layout = StateLayout.Of(ranges);
        if (!header.Layout.SameAs(layout)) throw StateErrors.LayoutMismatch(header.Layout, layout);
        // Pages of this host that wait for readers still count as allocated: let them go before the Gmm is asked for room.
        vm.Manager.Deferred.ReclaimAll();
        var lease = new ReservationLease(vm);
        var image = new StagedImage(vm, ranges, lease);
        try
        {
            image.Pool.AllocateUpFront(header.NonZeroPages);
            while (reader.Next(out StateRecord record)) image.Apply(record);
            image.CheckEnd(reader.End);
            image.Commit();
            return image.Summary(reader.BytesRead);
        }
        catch
        {
            image.Discard();
            throw;
        }
        finally
        {
            lease.Release();
        }
    }
}
