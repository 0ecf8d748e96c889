using GuestMemory.Gmm;

namespace GuestMemory.Phys;

public sealed unsafe partial class GuestPhysicalMemory
{
    /// <summary>Finds the RAM or ROM entry of the page at <paramref name="address"/> (for scanners that start from a guest frame).</summary>
    internal bool TryLocate(ulong address, out MemoryRange range, out int index)
    {
        MemoryRange? found = FindRange(address);
        if (found == null || found.Type == GuestPageType.Mmio)
        {
            range = null!;
            index = 0;
            return false;
        }
        range = found;
        index = (int)((address - found.Start) >> Paging.PageShift);
        return true;
    }

    /// <summary>
    /// Gives the handy pages back to the Gmm, after telling it the guest frames of the ones put to use,
    /// so that no page the Gmm cannot place pins a chunk the compactor wants to empty. The next first
    /// write refills them (from chunks that are not being emptied).
    /// </summary>
    internal void ReturnHandyPages()
    {
        using (_lock.Enter())
        {
            if (_destroyed) return;
            var atHand = new List<PageId>();
            _handy.Drain(page => atHand.Add(page), reportFirst: true);
            if (atHand.Count > 0) _gmm.FreePages(Vm, GmmAccount.Base, atHand.ToArray());
        }
    }
}
