using GuestMemory.Gmm;

namespace GuestMemory.State;

/// <summary>
/// A temporary raise of a VM's base reservation for the length of a restore.
/// </summary>
/// <remarks>
/// A restore stages the new image in pages of its own while the old image is still the VM's (so that
/// any error leaves the VM as it was): for that window the VM holds both. The base account check
/// (allocated + ballooned + n &lt;= reserved) would refuse the staging pages of a VM that already holds
/// pages, so the lease raises the reservation by exactly the shortfall, through the Gmm's own
/// <see cref="PageManager.UpdateReservation"/>, which may decline it under the host's over-commit policy
/// (<see cref="GmmError.ReservationDeclined"/>, before anything changed). A fresh VM's reservation
/// already covers its RAM, so restoring into it raises nothing. Once the old pages are gone the lease
/// is released and the reservation is what it was.
/// </remarks>
internal sealed class ReservationLease(VirtualMachine vm)
{
    /// <summary>Pages added to the reservation and not yet given back.</summary>
    public long Added { get; private set; }

    /// <summary>Makes room in the base account for <paramref name="pages"/> more allocated (or ballooned) pages.</summary>
    public void EnsureHeadroom(long pages)
    {
        GmmVmStatistics s = vm.Manager.Pages.GetVmStatistics(vm.Handle);
        long shortfall = pages - (s.Reserved.Base - s.Allocated.Base - s.BalloonedPages);
        if (shortfall <= 0) return;
        if (!vm.Memory.ChangeBaseReservation(shortfall))
            throw new GmmException(GmmError.ReservationDeclined, $"{vm} cannot reserve {shortfall} more pages to stage the restored image");
        Added += shortfall;
    }

    /// <summary>Gives the added pages back (the VM may have been destroyed meanwhile: then there is nothing to give).</summary>
    public void Release()
    {
        if (Added == 0) return;
        try
        {
            vm.Memory.ChangeBaseReservation(-Added);
        }
        catch (GmmException e) when (e.Error == GmmError.VmNotFound)
        {
            // destroyed: its reservation went with it
        }
        Added = 0;
    }
}
