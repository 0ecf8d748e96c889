using GuestMemory.Gmm;
using GuestMemory.Phys;

namespace GuestMemory.Tests.Phys;

/// <summary>Destroying a VM returns everything to the Gmm; every later use is a typed error.</summary>
public sealed class DestroyTests
{
    private const ulong Page = TestVms.PageSize;

    [Fact]
    public void Destroy_returns_ram_rom_handy_and_shared_pages_and_spares_the_other_vm()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        GmmStatistics empty = gmm.Statistics;
        VirtualMachine vm = gmm.AddVm(ramPages: 64);
        using VirtualMachine other = gmm.AddVm(ramPages: 64, name: "other");
        vm.Memory.RegisterRom(0x10_0000, new byte[5000], RomWriteMode.Ignore, "rom");
        vm.Memory.RegisterMmio(0x20_0000, Page, new RecordingMmio((int)Page), "mmio");
        vm.Memory.Write(0, TestVms.Bytes(10 * (int)Page, 1));
        other.Memory.Write(0, TestVms.Bytes(10 * (int)Page, 2));
        SharedPages.ShareOnePage(gmm, TestVms.Bytes((int)Page, 3), (vm.Memory, 20 * Page), (vm.Memory, 21 * Page), (other.Memory, 20 * Page));
        using (vm.Memory.MapForRead(20 * Page)) { } // leaves a retired mapping reference behind

        vm.Dispose();

        Assert.True(vm.IsDestroyed);
        Assert.DoesNotContain(vm, gmm.Vms);
        Assert.Equal(0, gmm.Deferred.Count);
        Assert.Equal(TestVms.Bytes(10 * (int)Page, 2), other.Memory.ReadBytes(0, 10 * (int)Page));
        Assert.Equal(TestVms.Bytes((int)Page, 3), other.Memory.ReadBytes(20 * Page, (int)Page));
        gmm.Verify();
        other.Dispose();
        GmmStatistics after = gmm.Statistics;
        Assert.Equal(empty with { FreedChunks = after.FreedChunks }, after);
        gmm.Verify();
        vm.Dispose(); // twice is fine
    }

    [Fact]
    public void Every_use_after_destroy_is_a_typed_error()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        VirtualMachine vm = gmm.AddVm(ramPages: 16);
        vm.Memory.Write(0, [1]);
        GuestPhysicalMemory memory = vm.Memory;
        gmm.DestroyVm(vm);
        GmmStatistics before = gmm.Statistics;

        var uses = new Dictionary<string, Action>
        {
            ["Read"] = () => memory.Read(0, new byte[1]),
            ["Read empty"] = () => memory.Read(0, []),
            ["Write"] = () => memory.Write(0, [1]),
            ["ReadUInt64"] = () => memory.ReadUInt64(0),
            ["WriteUInt64"] = () => memory.WriteUInt64(8, 1),
            ["MapForRead"] = () => memory.MapForRead(0).Dispose(),
            ["MapForWrite"] = () => memory.MapForWrite(0).Dispose(),
            ["Reset"] = memory.Reset,
            ["GetPage"] = () => memory.GetPage(0),
            ["RegisterRam"] = () => memory.RegisterRam(0x10_0000, Page, "ram"),
            ["RegisterRom"] = () => memory.RegisterRom(0x10_0000, [1], RomWriteMode.Ignore, "rom"),
            ["RegisterMmio"] = () => memory.RegisterMmio(0x10_0000, Page, new RecordingMmio(0), "mmio"),
        };
        foreach ((string name, Action use) in uses)
        {
            GmmException e = Assert.Throws<GmmException>(use);
            Assert.True(e.Error == GmmError.VmDestroyed, $"{name}: {e.Error}");
        }
        Assert.Equal(before, gmm.Statistics);
        Assert.Equal(0, GuestMemoryStatisticsOf(memory).AllocatedPages);
        gmm.Verify();
    }

    private static GuestMemoryStatistics GuestMemoryStatisticsOf(GuestPhysicalMemory memory) => memory.GetStatistics();
}
