using GuestMemory.Gmm;
using GuestMemory.Host;
using GuestMemory.Phys;

namespace GuestMemory.Tests.Phys;

/// <summary>
/// What fusion will do to a VM, done the way the design prescribes: only through <see cref="PageUpdateRequest"/>s
/// (check the entry, replace it, retire the old page). Used by the copy-on-write, monitoring, model and stress tests.
/// Every operation here keeps guest-visible content identical.
/// </summary>
internal static class PageRequests
{
    /// <summary>Sends one conditional update, waits for it, and says whether it applied.</summary>
    public static bool Apply(GuestPhysicalMemory memory, ulong address, ulong expected, ulong replacement, PageId retire = default)
    {
        var updates = new[] { new PageUpdate { Address = address, Expected = expected, Replacement = replacement, Retire = retire } };
        memory.Lock.Submit(new PageUpdateRequest(memory, updates, 1), wait: true);
        return updates[0].Applied;
    }

    /// <summary>
    /// Arms write monitoring on an Allocated, unmapped RAM page (written-to cleared), then waits for every
    /// access section that began before, so no lock-free write to the page is still in flight.
    /// </summary>
    public static bool ArmWriteMonitoring(GuestPhysicalMemory memory, ulong address)
    {
        if (!memory.Ranges.Any(r => r.Contains(address) && r.Type == GuestPageType.Ram)) return false;
        ulong e = memory.Entry(address);
        if (GuestPage.State(e) != GuestPageState.Allocated || GuestPage.IsLocked(e)) return false;
        ulong armed = GuestPage.WithState(e, GuestPageState.WriteMonitored) & ~GuestPage.WrittenToFlag;
        if (!Apply(memory, address, e, armed)) return false;
        AccessEpoch.WaitForReaders(AccessEpoch.Current);
        return true;
    }

    /// <summary>Gives a zero (unbacked) RAM page to the balloon through the balloon API; false if it is not a zero page.</summary>
    public static bool Balloon(GuestPhysicalMemory memory, ulong address)
    {
        if (GuestPage.State(memory.Entry(address)) != GuestPageState.Zero) return false;
        memory.InflateBalloon([address]);
        return true;
    }

    /// <summary>
    /// Merges write-monitored pages whose content is byte-for-byte identical into one new shared page, the way
    /// fusion would: snapshot the armed entries, compare the bytes, copy into a shared page, then ask each VM to
    /// replace WM(X) by SHARED(S) retiring X. A page written meanwhile fails its precondition and keeps its
    /// own page. An all-zero group goes back to the zero page instead. Returns how many pages were replaced.
    /// </summary>
    public static int Merge(PageManager gmm, IReadOnlyList<(GuestPhysicalMemory Memory, ulong Address)> pages)
    {
        (ulong[] entries, byte[][] contents) = Snapshot(pages);
        if (entries.Any(e => GuestPage.State(e) != GuestPageState.WriteMonitored || GuestPage.IsWrittenTo(e) || GuestPage.IsLocked(e))) return 0;
        if (contents.Any(c => !c.AsSpan().SequenceEqual(contents[0]))) return 0;
        if (!contents[0].AsSpan().ContainsAnyExcept((byte)0)) return ReplaceAll(gmm, pages, entries, GuestPageState.Zero, PageId.Nil);

        PageId shared = gmm.Port.AllocateSharedPage(pages[0].Memory.Vm, checksum: 0);
        contents[0].CopyTo(gmm.Host.PageSpan(shared));
        for (int i = 1; i < pages.Count; i++) gmm.Port.AddSharedReference(pages[i].Memory.Vm, shared);
        return ReplaceAll(gmm, pages, entries, GuestPageState.Shared, shared);
    }

    private static int ReplaceAll(PageManager gmm, IReadOnlyList<(GuestPhysicalMemory Memory, ulong Address)> pages, ulong[] entries, GuestPageState state, PageId shared)
    {
        int replaced = 0;
        for (int i = 0; i < pages.Count; i++)
        {
            (GuestPhysicalMemory memory, ulong address) = pages[i];
            ulong next = GuestPage.WithState(entries[i], state, shared) & ~GuestPage.WrittenToFlag;
            if (Apply(memory, address, entries[i], next, GuestPage.Page(entries[i]))) replaced++;
            else if (!shared.IsNil) gmm.Port.FreePages(memory.Vm, GmmAccount.Base, [shared]); // nobody uses this reference
        }
        return replaced;
    }

    /// <summary>
    /// Loads the entries and copies the pages they name inside one access section, so no page can be reused
    /// while it is read; the final compare-and-replace catches any change made after the snapshot.
    /// </summary>
    private static unsafe (ulong[] Entries, byte[][] Contents) Snapshot(IReadOnlyList<(GuestPhysicalMemory Memory, ulong Address)> pages)
    {
        AccessEpoch.Section section = AccessEpoch.Enter();
        try
        {
            ulong[] entries = pages.Select(p => p.Memory.Entry(p.Address)).ToArray();
            byte[][] contents = pages.Select((p, i) => GuestPage.HasHostPage(entries[i])
                ? new ReadOnlySpan<byte>(p.Memory.HostAddress(GuestPage.Page(entries[i])), Paging.PageSize).ToArray()
                : new byte[Paging.PageSize]).ToArray();
            return (entries, contents);
        }
        finally
        {
            section.Exit();
        }
    }
}
