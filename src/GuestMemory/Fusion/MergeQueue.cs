using GuestMemory.Gmm;
using GuestMemory.Phys;

namespace GuestMemory.Fusion;

/// <summary>
/// The merges the scanner decided on, per VM, until they are sent: one <see cref="PageUpdateBatch"/>
/// request per VM (check that the entry is still the monitored one that was read, replace it, retire
/// the old page). A refused merge gives back the shared reference that was taken for it.
/// </summary>
internal sealed class MergeQueue(PageManager gmm, int capacityPerVm)
{
    private readonly Dictionary<VirtualMachine, Batch> _batches = [];
    private readonly PageId[] _drops = new PageId[capacityPerVm];

    /// <summary>
    /// Queues "entry <paramref name="expected"/> becomes <paramref name="replacement"/>" for the guest page
    /// at <paramref name="address"/> of <paramref name="vm"/>. <paramref name="reference"/> is the shared
    /// reference taken for the merge, or Nil for a return to the zero page.
    /// </summary>
    public void Add(VirtualMachine vm, ulong address, ulong expected, ulong replacement, PageId reference)
    {
        if (!_batches.TryGetValue(vm, out Batch? batch)) _batches[vm] = batch = new Batch(capacityPerVm);
        batch.Add(address, expected, replacement, GuestPage.Page(expected), reference);
    }

    /// <summary>
    /// Sends every VM its merges and waits for them; counts what was applied and gives back the references
    /// of what was refused. Every batch is emptied even when one VM's request fails (the first failure is
    /// rethrown at the end): a merge left queued would be sent by a later segment, after an arming that
    /// may have rebuilt the very entry it expects.
    /// </summary>
    public void Send(ref PassCounters pass)
    {
        bool anyDestroyed = false;
        Exception? failure = null;
        foreach ((VirtualMachine vm, Batch batch) in _batches)
        {
            if (batch.Requests.Count == 0) continue;
            try
            {
                // A failed send leaves the updates it did not reach unapplied: Account gives their references back.
                try { batch.Requests.SendTo(vm.Memory); }
                catch (Exception ex) when (!VmGone(ex)) { failure ??= ex; }
                Account(vm, batch, ref pass);
            }
            catch (Exception ex) when (VmGone(ex))
            {
                // The VM was destroyed: its references went with it.
            }
            catch (Exception ex)
            {
                failure ??= ex;
            }
            finally
            {
                batch.Requests.Clear();
                anyDestroyed |= vm.IsDestroyed;
            }
        }
        if (anyDestroyed)
            foreach (VirtualMachine gone in _batches.Keys.Where(v => v.IsDestroyed).ToArray()) _batches.Remove(gone);
        if (failure != null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
    }

    private static bool VmGone(Exception e) => e is GmmException { Error: GmmError.VmNotFound or GmmError.VmDestroyed };

    private void Account(VirtualMachine vm, Batch batch, ref PassCounters pass)
    {
        int drops = 0;
        for (int i = 0; i < batch.Requests.Count; i++)
        {
            if (batch.Requests.Updates[i].Applied)
            {
                if (batch.References[i].IsNil) pass.Zeroed++;
                else pass.Merged++;
                continue;
            }
            pass.LostRaces++;
            if (!batch.References[i].IsNil) _drops[drops++] = batch.References[i];
        }
        if (drops > 0) gmm.Port.FreePages(vm.Handle, GmmAccount.Base, _drops.AsSpan(0, drops));
    }

    /// <summary>One VM's pending merges: the requests plus, per request, the shared reference to give back if it is refused.</summary>
    private sealed class Batch(int capacity)
    {
        public PageUpdateBatch Requests { get; } = new(capacity);
        public PageId[] References { get; } = new PageId[capacity];

        public void Add(ulong address, ulong expected, ulong replacement, PageId retire, PageId reference)
        {
            References[Requests.Count] = reference;
            Requests.Add(address, expected, replacement, retire);
        }
    }
}
