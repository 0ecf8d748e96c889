using System.Runtime.CompilerServices;
using GuestMemory.Gmm;
using GuestMemory.Host;
using GuestMemory.Phys;

namespace GuestMemory.Compaction;

/// <summary>
/// Moves one VM's private pages, a batch at a time, in four steps: arm (a request makes each entry
/// Write-Monitored and sets its moving flag), wait until every access that began before the arming has
/// ended, copy each page into a page of a fuller chunk, and switch (a request replaces each entry that
/// still equals the armed one by the original entry naming the copy, retiring the old page).
/// </summary>
/// <remarks>
/// <para><b>Why no write is lost.</b> After the wait, no writer that saw the entry Allocated before the
/// arming is still writing, and any later writer must take the VM lock, which clears the moving flag
/// (<see cref="GuestPage.MovingFlag"/>). So an entry that still equals the armed one at the switch, under
/// the VM lock, was not written since the arming, and the copy holds its bytes. Without the flag, a write
/// followed by another layer's re-arming could rebuild the very same entry and let a stale copy in.</para>
/// <para><b>Why the switch can restore the original state.</b> The switched entry is the one read
/// before the arming with only its page changed: an Allocated page stays Allocated (its next write stays
/// on the lock-free path), a page fusion or a live save had armed stays armed for them.</para>
/// <para>Buffers are reused from batch to batch and run to run; one instance per compactor, used by one
/// run at a time. The per-page methods are compiled fully optimised from their first call: a run is a
/// few long calls over many pages, and runs are rare, so tiered compilation would run most of a run
/// (measured: most of the first runs in a process) in its unoptimised first tier.</para>
/// </remarks>
internal sealed class PrivatePageMover(PageManager gmm, DeferredFrees deferred)
{
    public const int BatchSize = 512;

    private readonly PageUpdateBatch _batch = new(BatchSize);
    private readonly (ulong Address, ulong Original, ulong Armed)[] _armed = new (ulong, ulong, ulong)[BatchSize];
    private readonly PageDescriptor[] _targets = new PageDescriptor[BatchSize];
    private readonly PageId[] _refused = new PageId[BatchSize];

    /// <summary>Test hook: runs after the copies and before the switch request (a test writes a page here).</summary>
    internal Action<VirtualMachine>? BeforeSwitch { get; set; }

    /// <summary>
    /// Moves <paramref name="pages"/> (all of <paramref name="vm"/>) out of their evacuating chunks. Pages
    /// whose entry no longer names them, is mapped, or is not RAM stay, and so do the rest when the VM's
    /// account has no room for copies even after the pages already moved went back. Returns false when
    /// the host has no room for more copies (the run should stop).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public bool Move(VirtualMachine vm, ReadOnlySpan<MovablePage> pages, WorkBudget? budget, ref MoveCounters counters)
    {
        for (int start = 0, count; start < pages.Length; start += count)
        {
            if (vm.IsDestroyed || budget?.Throttle(counters.Moved) == false) return true;
            long room = Room(vm, Math.Min(BatchSize, pages.Length - start), out bool hostFull);
            if (room == 0) return !hostFull;
            count = (int)room;
            int armed = Arm(vm.Memory, pages.Slice(start, count));
            if (armed == 0) continue;
            // Every access that may have seen an entry before it was armed ends before its page is read.
            AccessEpoch.WaitForReaders(AccessEpoch.Current);
            if (!CopyAndSwitch(vm, armed, ref counters)) return false;
        }
        return true;
    }

    /// <summary>
    /// How many of the next <paramref name="wanted"/> pages can get a copy now. When the VM's account is
    /// short (a VM near its reservation: its ballooned and allocated pages fill it), the old pages of
    /// earlier batches, which still count, go back first.
    /// </summary>
    private long Room(VirtualMachine vm, int wanted, out bool hostFull)
    {
        hostFull = false;
        try
        {
            (long account, long host) = gmm.MoveRoom(vm.Handle);
            if (Math.Min(account, host) < wanted && deferred.CountFor(vm.Handle) > 0)
            {
                deferred.ReclaimAll();
                (account, host) = gmm.MoveRoom(vm.Handle);
            }
            hostFull = host <= 0;
            return Math.Clamp(Math.Min(account, host), 0, wanted);
        }
        catch (GmmException e) when (e.Error == GmmError.VmNotFound)
        {
            return 0; // destroyed meanwhile
        }
    }

    /// <summary>Arms the pages whose entry still names them; returns how many the VM armed (in <c>_armed</c>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int Arm(GuestPhysicalMemory memory, ReadOnlySpan<MovablePage> pages)
    {
        foreach (MovablePage page in pages)
        {
            ulong address = page.GuestFrame << Paging.PageShift;
            if (!memory.TryLocate(address, out MemoryRange range, out int index)) continue;
            ulong e = GuestPhysicalMemory.ReadEntry(range, index);
            if (GuestPage.Page(e) != page.Page || GuestPage.Type(e) != GuestPageType.Ram || GuestPage.IsLocked(e)) continue;
            if (GuestPage.State(e) is not (GuestPageState.Allocated or GuestPageState.WriteMonitored)) continue;
            _batch.Add(address, e, GuestPage.WithState(e, GuestPageState.WriteMonitored) | GuestPage.MovingFlag, PageId.Nil);
        }
        MoveSupport.Send(_batch, memory);
        int armed = 0;
        foreach (ref readonly PageUpdate u in _batch.Updates.AsSpan(0, _batch.Count))
            if (u.Applied) _armed[armed++] = (u.Address, u.Expected, u.Replacement);
        _batch.Clear();
        return armed;
    }

    /// <summary>Copies the armed pages into new pages and switches their entries; frees the copies the VM refused.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private bool CopyAndSwitch(VirtualMachine vm, int armed, ref MoveCounters counters)
    {
        Span<PageDescriptor> targets = _targets.AsSpan(0, armed);
        for (int i = 0; i < armed; i++) targets[i] = new PageDescriptor { GuestFrame = _armed[i].Address >> Paging.PageShift };
        int granted = 0;
        try
        {
            // Usually all: Room said so, but another allocation may have taken some since.
            if (!MoveSupport.WhileAlive(vm, () => granted = gmm.AllocateMoveTargets(vm.Handle, _targets.AsSpan(0, armed)))) return true;
        }
        catch (GmmException e) when (e.Error == GmmError.HostOutOfMemory)
        {
            return false; // armed entries stay monitored: the next write unmonitors them
        }
        for (int i = 0; i < granted; i++)
        {
            (ulong address, ulong original, ulong armedEntry) = _armed[i];
            MoveSupport.Copy(gmm, GuestPage.Page(armedEntry), targets[i].Page);
            ulong moved = GuestPage.WithState(original, GuestPage.State(original), targets[i].Page) & ~GuestPage.MovingFlag;
            _batch.Add(address, armedEntry, moved, GuestPage.Page(armedEntry));
        }
        BeforeSwitch?.Invoke(vm);
        MoveSupport.Send(_batch, vm.Memory);
        int refused = 0;
        for (int i = 0; i < granted; i++)
        {
            if (_batch.Updates[i].Applied) counters.PrivateMoved++;
            else _refused[refused++] = targets[i].Page;
        }
        _batch.Clear();
        counters.Refused += refused;
        MoveSupport.GiveBack(gmm, vm, _refused, refused);
        return true;
    }
}
