using GuestMemory.Gmm;
using GuestMemory.Host;
using GuestMemory.Phys;

namespace GuestMemory.Compaction;

/// <summary>The steps both movers share: copy a host page, send a batch of entry switches, give back copies that were not installed.</summary>
internal static unsafe class MoveSupport
{
    /// <summary>
    /// Copies one host page into another inside an access section, so the source cannot be freed and
    /// reused while it is read (the caller made sure it was not written since it was armed, or pinned it).
    /// </summary>
    public static void Copy(PageManager gmm, PageId from, PageId to)
    {
        AccessEpoch.Section section = AccessEpoch.Enter();
        new ReadOnlySpan<byte>(gmm.PageAddress(from), Paging.PageSize).CopyTo(new Span<byte>(gmm.PageAddress(to), Paging.PageSize));
        section.Exit();
    }

    /// <summary>Sends a batch of compare-and-replace updates to a VM and waits; a destroyed VM refuses them all.</summary>
    public static void Send(PageUpdateBatch batch, GuestPhysicalMemory memory)
    {
        try
        {
            batch.SendTo(memory);
        }
        catch (GmmException e) when (e.Error == GmmError.VmDestroyed)
        {
            // Every update stays not applied.
        }
    }

    /// <summary>
    /// Runs a Gmm call made in <paramref name="vm"/>'s name under the VM's lock, so the VM cannot be
    /// destroyed meanwhile and its handle given to a new VM (pages taken or freed in its name would then
    /// be another VM's). Returns false, without calling, when the VM is destroyed already: whatever it
    /// held went with it. Lock order VM → Gmm, as everywhere.
    /// </summary>
    public static bool WhileAlive(VirtualMachine vm, Action call)
    {
        using (vm.Memory.Lock.Enter())
        {
            if (vm.IsDestroyed) return false;
            call();
            return true;
        }
    }

    /// <summary>Frees pages (or references) taken in <paramref name="vm"/>'s name that were never installed in an entry, so no reader can hold them.</summary>
    public static void GiveBack(PageManager gmm, VirtualMachine vm, PageId[] pages, int count)
    {
        if (count > 0) WhileAlive(vm, () => gmm.Port.FreePages(vm.Handle, GmmAccount.Base, pages.AsSpan(0, count)));
    }
}
