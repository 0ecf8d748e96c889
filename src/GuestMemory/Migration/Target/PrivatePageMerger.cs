using GuestMemory.Fusion;
using GuestMemory.Gmm;
using GuestMemory.Host;
using GuestMemory.Phys;

namespace GuestMemory.Migration.Target;

/// <summary>
/// Turns private pages of the target's other VMs (same sharing domain) into shared pages when the source
/// is about to send their content, so the content is stored once: the incoming VM references the new
/// shared page, and the other VM is switched onto it, exactly as page fusion merges twins.
/// </summary>
/// <remarks>
/// <para><b>Why no write is lost.</b> Each candidate is armed first (Allocated → Write-Monitored, by a
/// request to its VM), then the merger waits for every access section that began before the arming.
/// The copy is made only while the entry is still the armed one, and its key must be the queried key;
/// the other VM's entry is then switched by a compare-and-replace request that applies only if the
/// entry is still the armed one. A write since the arming turned the entry back to Allocated under the
/// VM lock, so the switch is refused and the other VM keeps its page; the incoming VM still uses the
/// checked copy. The arming never clears DIRTY, so a live save of the other VM is not disturbed.</para>
/// <para>Never waits for readers inside a section or under a VM lock. Owned by the session's thread.</para>
/// </remarks>
internal sealed class PrivatePageMerger(GlobalMemoryManager manager, VirtualMachine incoming)
{
    private readonly Dictionary<VirtualMachine, PageUpdateBatch> _batches = [];

    /// <summary>A private candidate for a queried content.</summary>
    public readonly record struct Request(ContentKey Key, SharingTable.Candidate Candidate);

    /// <summary>
    /// For each request, a shared page with exactly its content and one reference held by the incoming VM
    /// (in <paramref name="shared"/>), or <see cref="PageId.Nil"/> when the candidate changed or the host has no page.
    /// </summary>
    public void Merge(IReadOnlyList<Request> requests, Span<PageId> shared)
    {
        var armed = new ulong[requests.Count];
        Arm(requests, armed);
        AccessEpoch.WaitForReaders(AccessEpoch.Current);
        for (int i = 0; i < requests.Count; i++)
            shared[i] = armed[i] == 0 ? PageId.Nil : Copy(requests[i], armed[i]);
        Switch(requests, armed, shared);
    }

    /// <summary>Sets <paramref name="armed"/>[i] to the monitored entry of request i, or 0 when its page changed since it was indexed.</summary>
    private void Arm(IReadOnlyList<Request> requests, ulong[] armed)
    {
        var slots = new int[requests.Count];
        for (int i = 0; i < requests.Count; i++)
        {
            SharingTable.Candidate c = requests[i].Candidate;
            slots[i] = -1;
            if (GuestPage.State(c.Entry) == GuestPageState.WriteMonitored) armed[i] = c.Entry;
            else slots[i] = Add(c.Vm!, Address(c), c.Entry, GuestPage.WithState(c.Entry, GuestPageState.WriteMonitored), PageId.Nil);
        }
        SendAll();
        for (int i = 0; i < requests.Count; i++)
            if (slots[i] >= 0) armed[i] = Update(requests[i], slots[i]).Applied ? Update(requests[i], slots[i]).Replacement : 0;
        ClearAll();
    }

    /// <summary>Copies an armed candidate into a new shared page, kept only if the copy has the queried key.</summary>
    private PageId Copy(Request request, ulong armed)
    {
        PageId page;
        try
        {
            page = manager.Pages.Port.AllocateSharedPage(incoming.Handle, PageHash.Checksum(request.Key.Hash));
        }
        catch (GmmException e) when (e.Error is GmmError.HitGlobalLimit or GmmError.HostOutOfMemory)
        {
            return PageId.Nil;
        }
        Span<byte> copy = manager.Pages.Host.PageSpan(page);
        bool copied = false;
        AccessEpoch.Section section = AccessEpoch.Enter();
        try
        {
            SharingTable.Candidate c = request.Candidate;
            if (GuestPhysicalMemory.ReadEntry(c.Range!, c.Index) == armed)
            {
                manager.Pages.Host.PageSpan(GuestPage.Page(armed)).CopyTo(copy);
                copied = true;
            }
        }
        finally
        {
            section.Exit();
        }
        if (copied && ContentKey.Of(copy) == request.Key) return page;
        manager.Pages.Port.FreePages(incoming.Handle, GmmAccount.Base, [page]);
        return PageId.Nil;
    }

    /// <summary>Switches each other VM's armed entry onto its shared page; a refused switch gives that VM's reference back.</summary>
    private void Switch(IReadOnlyList<Request> requests, ulong[] armed, Span<PageId> shared)
    {
        var slots = new int[requests.Count];
        for (int i = 0; i < requests.Count; i++)
        {
            slots[i] = -1;
            if (shared[i].IsNil) continue;
            SharingTable.Candidate c = requests[i].Candidate;
            try
            {
                manager.Pages.Port.AddSharedReference(c.Vm!.Handle, shared[i]);
            }
            catch (GmmException e) when (e.Error == GmmError.VmNotFound)
            {
                continue; // the other VM is gone: only the incoming VM uses the page
            }
            ulong merged = GuestPage.WithState(armed[i], GuestPageState.Shared, shared[i]) & ~GuestPage.WrittenToFlag;
            slots[i] = Add(c.Vm, Address(c), armed[i], merged, GuestPage.Page(armed[i]));
        }
        SendAll();
        for (int i = 0; i < requests.Count; i++)
            if (slots[i] >= 0 && !Update(requests[i], slots[i]).Applied) DropReference(requests[i].Candidate.Vm!, shared[i]);
        ClearAll();
    }

    private void DropReference(VirtualMachine vm, PageId page)
    {
        try
        {
            manager.Pages.Port.FreePages(vm.Handle, GmmAccount.Base, [page]);
        }
        catch (GmmException e) when (e.Error == GmmError.VmNotFound)
        {
            // destroyed meanwhile: its references went with it
        }
    }

    /// <summary>Queues an update for <paramref name="vm"/>; returns its slot in that VM's batch.</summary>
    private int Add(VirtualMachine vm, ulong address, ulong expected, ulong replacement, PageId retire)
    {
        if (!_batches.TryGetValue(vm, out PageUpdateBatch? batch)) _batches[vm] = batch = new PageUpdateBatch(MigrationProtocol.MaxQueryKeys);
        batch.Add(address, expected, replacement, retire);
        return batch.Count - 1;
    }

    private ref PageUpdate Update(Request request, int slot) => ref _batches[request.Candidate.Vm!].Updates[slot];

    /// <summary>Runs every VM's batch under that VM's lock (a destroyed VM applies nothing).</summary>
    private void SendAll()
    {
        foreach ((VirtualMachine vm, PageUpdateBatch batch) in _batches) batch.SendTo(vm.Memory);
    }

    private void ClearAll()
    {
        foreach (PageUpdateBatch batch in _batches.Values) batch.Clear();
    }

    private static ulong Address(SharingTable.Candidate c) => c.Range!.Start + ((ulong)c.Index << Paging.PageShift);
}
