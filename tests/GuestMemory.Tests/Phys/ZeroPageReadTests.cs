using GuestMemory.Gmm;
using GuestMemory.Phys;

namespace GuestMemory.Tests.Phys;

/// <summary>All RAM starts on the zero page: reads return zeros and allocate nothing.</summary>
public sealed class ZeroPageReadTests
{
    [Fact]
    public void Reads_of_fresh_ram_return_zeros_and_allocate_nothing()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        using VirtualMachine vm = gmm.AddVm(ramPages: 64);
        GmmStatistics before = gmm.Statistics;
        GmmVmStatistics accountsBefore = vm.Accounts;

        Assert.All(vm.Memory.ReadBytes(0, 64 * TestVms.PageSize), b => Assert.Equal(0, b));
        Assert.All(vm.Memory.ReadBytes(3 * TestVms.PageSize - 5, 17), b => Assert.Equal(0, b));
        Assert.Equal(0UL, vm.Memory.ReadUInt64(0x1_0000));
        Assert.Equal(0UL, vm.Memory.ReadUInt64(TestVms.PageSize - 4));
        using (ReadMapping mapping = vm.Memory.MapForRead(5 * TestVms.PageSize))
            Assert.False(mapping.Span.ContainsAnyExcept((byte)0));

        Assert.Equal(before, gmm.Statistics);
        Assert.Equal(accountsBefore, vm.Accounts);
        GuestMemoryStatistics stats = vm.Memory.GetStatistics();
        Assert.Equal((64L, 0L, 0, 0L, 0L), (stats.ZeroPages, stats.AllocatedPages, stats.HandyPages, stats.HandyRefills, stats.FirstWrites));
        Assert.Equal(GuestPageState.Zero, vm.Memory.GetPage(5 * TestVms.PageSize).State);
        gmm.Verify();
    }
}
