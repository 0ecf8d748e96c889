using GuestMemory.State;
using GuestMemory.Gmm;
using GuestMemory.Phys;

namespace GuestMemory.Tests.State;

/// <summary>What a test compares before and after: every RAM/ROM byte, every page entry, the VM's accounts and the Gmm's figures.</summary>
internal sealed record VmSnapshot(byte[] Bytes, GuestPageInfo[] Entries, GmmVmStatistics Accounts, GmmStatistics Host)
{
    public static VmSnapshot Take(GlobalMemoryManager gmm, VirtualMachine vm) =>
        new(Content(vm), Pages(vm), vm.Accounts, gmm.Statistics);

    /// <summary>RAM and ROM content in address order (MMIO is a device, not memory).</summary>
    public static byte[] Content(VirtualMachine vm)
    {
        MemoryRange[] ranges = vm.Memory.Ranges.Where(r => r.Type != GuestPageType.Mmio).ToArray();
        var bytes = new byte[ranges.Sum(r => (long)r.Size)];
        long at = 0;
        foreach (MemoryRange range in ranges)
        {
            vm.Memory.Read(range.Start, bytes.AsSpan((int)at, (int)range.Size));
            at += (long)range.Size;
        }
        return bytes;
    }

    public static GuestPageInfo[] Pages(VirtualMachine vm) =>
        vm.Memory.Ranges.Where(r => r.Type != GuestPageType.Mmio)
            .SelectMany(r => Enumerable.Range(0, (int)r.PageCount).Select(i => vm.Memory.GetPage(r.Start + ((ulong)i << Paging.PageShift))))
            .ToArray();

    /// <summary>How each page is backed, as a restore must reproduce it (monitoring and host page ids aside).</summary>
    public static string Kinds(VirtualMachine vm) =>
        new(Pages(vm).Select(p => p.State switch
        {
            GuestPageState.Zero => '0',
            GuestPageState.Ballooned => 'b',
            GuestPageState.Shared => 's',
            _ => 'p',
        }).ToArray());

    /// <summary>Nothing changed: same bytes, same entries (host pages included), same accounts, same Gmm figures except chunk bookkeeping.</summary>
    public void AssertUnchanged(VmSnapshot after, bool exactHost = false)
    {
        Assert.True(Bytes.AsSpan().SequenceEqual(after.Bytes), "guest memory content changed");
        Assert.True(Entries.AsSpan().SequenceEqual(after.Entries), "page entries changed");
        Assert.Equal(Accounts, after.Accounts);
        if (exactHost) Assert.Equal(Host, after.Host);
        else Assert.Equal(Host with { FreePages = 0, Chunks = 0, FreedChunks = 0, DiscardedFreePages = 0, DiscardedPagesTotal = 0, SpareChunks = 0 },
                          after.Host with { FreePages = 0, Chunks = 0, FreedChunks = 0, DiscardedFreePages = 0, DiscardedPagesTotal = 0, SpareChunks = 0 });
    }
}
