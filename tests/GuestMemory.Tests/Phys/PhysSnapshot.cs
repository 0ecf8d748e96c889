using GuestMemory.Gmm;
using GuestMemory.Phys;

namespace GuestMemory.Tests.Phys;

/// <summary>
/// Everything a caller can observe of one VM and its manager: Gmm and VM figures, every page entry and the
/// bytes of every RAM/ROM range (read without side effects). Taken around a failing call to prove it changed nothing.
/// </summary>
internal sealed record PhysSnapshot(GmmStatistics Global, GmmVmStatistics Accounts, GuestMemoryStatistics Memory, string Entries, byte[] Content, int Retired)
{
    public static PhysSnapshot Take(GlobalMemoryManager gmm, VirtualMachine vm)
    {
        var entries = new List<string>();
        var content = new List<byte>();
        foreach (MemoryRange range in vm.Memory.Ranges.Where(r => r.Type != GuestPageType.Mmio))
        {
            for (int i = 0; i < range.PageCount; i++) entries.Add(GuestPhysicalMemory.ReadEntry(range, i).ToString("x16"));
            content.AddRange(vm.Memory.ReadBytes(range.Start, (int)range.Size));
        }
        return new(gmm.Statistics, vm.Accounts, vm.Memory.GetStatistics(), string.Join(" ", entries), [.. content], gmm.Deferred.Count);
    }

    public void AssertSameAs(PhysSnapshot other)
    {
        Assert.Equal(other.Global, Global);
        Assert.Equal(other.Accounts, Accounts);
        Assert.Equal(other.Memory, Memory);
        Assert.Equal(other.Entries, Entries);
        Assert.Equal(other.Content, Content);
        Assert.Equal(other.Retired, Retired);
    }
}
