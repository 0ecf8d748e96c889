using GuestMemory.Gmm;
using GuestMemory.Phys;

namespace GuestMemory.Tests.Phys;

/// <summary>RAM, ROM and MMIO ranges: page aligned, never overlapping; every bad registration is a typed error that changes nothing.</summary>
public sealed class RangeRegistrationTests
{
    private const ulong Page = TestVms.PageSize;
    private const ulong Mib = 1 << 20;

    [Fact]
    public void Ranges_of_each_kind_are_kept_sorted_with_their_pages()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        using VirtualMachine vm = gmm.AddVm(ramPages: 16);
        MemoryRange mmio = vm.Memory.RegisterMmio(3 * Mib, 2 * Page, new RecordingMmio(2 * (int)Page), "mmio");
        MemoryRange rom = vm.Memory.RegisterRom(2 * Mib, new byte[3 * Page + 1], RomWriteMode.Ignore, "rom");
        MemoryRange high = vm.Memory.RegisterRam(Mib, 8 * Page, "high");

        Assert.Equal(["ram", "high", "rom", "mmio"], vm.Memory.Ranges.Select(r => r.Name));
        Assert.Equal((GuestPageType.Rom, 4L, 2 * Mib + 4 * Page), (rom.Type, rom.PageCount, rom.End));
        Assert.Equal((GuestPageType.Ram, 8L), (high.Type, high.PageCount));
        Assert.Equal((GuestPageType.Mmio, 2L), (mmio.Type, mmio.PageCount));
        Assert.Equal(GuestPageType.Rom, vm.Memory.GetPage(2 * Mib + 3 * Page).Type);
        Assert.Equal(GuestPageType.Mmio, vm.Memory.GetPage(3 * Mib).Type);
        Assert.Equal((GuestPageType.Ram, GuestPageState.Zero), (vm.Memory.GetPage(Mib).Type, vm.Memory.GetPage(Mib).State));
        GuestMemoryStatistics stats = vm.Memory.GetStatistics();
        Assert.Equal((24L, 4L, 24L, 4L), (stats.RamPages, stats.RomPages, stats.ZeroPages, stats.AllocatedPages));
        gmm.Verify();
    }

    [Fact]
    public void Ranges_may_touch_end_to_start()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        using VirtualMachine vm = gmm.AddVm(ramPages: 16);
        vm.Memory.RegisterRom(16 * Page, [1], RomWriteMode.Ignore, "rom");
        vm.Memory.RegisterMmio(17 * Page, Page, new RecordingMmio((int)Page), "mmio");
        vm.Memory.RegisterRam(18 * Page, Page, "ram2");
        Assert.Equal(4, vm.Memory.Ranges.Count);
        gmm.Verify();
    }

    [Fact]
    public void Extra_ram_ranges_can_be_filled_entirely()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        using VirtualMachine vm = gmm.AddVm(ramPages: 16);
        vm.Memory.RegisterRam(Mib, 256 * Page, "high");
        byte[] data = TestVms.Bytes(256 * (int)Page, 1);
        vm.Memory.Write(0, new byte[16 * Page]);
        vm.Memory.Write(Mib, data);
        Assert.Equal(data, vm.Memory.ReadBytes(Mib, data.Length));
        gmm.Verify();
    }

    public static TheoryData<ulong, ulong> BadRanges() => new()
    {
        { Mib + 1, Page },                    // unaligned start
        { Mib, Page + 512 },                  // unaligned size
        { Mib, 0 },                           // empty
        { 0, Page },                          // overlaps the RAM at 0
        { 15 * Page, 2 * Page },              // overlaps its end
        { 1UL << 52, Page },                  // past the 2^52 guest-physical limit
        { (1UL << 52) - Page, 2 * Page },     // runs past it
        { ulong.MaxValue - Page + 1, Page },  // start + size wraps 2^64
        { Mib, ulong.MaxValue - Page + 1 },   // size wraps 2^64
        { 1UL << 40, 1UL << 44 },             // more pages than one range can hold
    };

    [Theory]
    [MemberData(nameof(BadRanges))]
    public void A_bad_range_of_any_kind_is_refused_and_changes_nothing(ulong start, ulong size)
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        using VirtualMachine vm = gmm.AddVm(ramPages: 16);
        vm.Memory.Write(0, [1, 2, 3]);
        TestVms.FailsUnchanged(gmm, vm, GmmError.InvalidRange, () => vm.Memory.RegisterRam(start, size, "bad"));
        TestVms.FailsUnchanged(gmm, vm, GmmError.InvalidRange, () => vm.Memory.RegisterMmio(start, size, new RecordingMmio(0), "bad"));
        if (size is > 0 and <= Mib && size % Page == 0) // a ROM image need not be a whole number of pages
            TestVms.FailsUnchanged(gmm, vm, GmmError.InvalidRange, () => vm.Memory.RegisterRom(start, new byte[size], RomWriteMode.Shadow, "bad"));
    }

    [Fact]
    public void Overlaps_between_later_ranges_are_refused_too()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        using VirtualMachine vm = gmm.AddVm(ramPages: 16);
        vm.Memory.RegisterRom(Mib, new byte[2 * Page], RomWriteMode.Ignore, "rom");
        vm.Memory.RegisterMmio(2 * Mib, 2 * Page, new RecordingMmio(0), "mmio");
        TestVms.FailsUnchanged(gmm, vm, GmmError.InvalidRange, () => vm.Memory.RegisterRam(Mib + Page, Page, "bad"));
        TestVms.FailsUnchanged(gmm, vm, GmmError.InvalidRange, () => vm.Memory.RegisterRom(2 * Mib - Page, new byte[2 * Page], RomWriteMode.Ignore, "bad"));
        TestVms.FailsUnchanged(gmm, vm, GmmError.InvalidRange, () => vm.Memory.RegisterMmio(Mib, 8 * Mib, new RecordingMmio(0), "bad"));
    }

    [Fact]
    public void Bad_rom_images_and_modes_are_refused()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        using VirtualMachine vm = gmm.AddVm(ramPages: 16);
        TestVms.FailsUnchanged(gmm, vm, GmmError.InvalidRange, () => vm.Memory.RegisterRom(Mib, [], RomWriteMode.Ignore, "empty"));
        TestVms.FailsUnchanged(gmm, vm, GmmError.InvalidArgument, () => vm.Memory.RegisterRom(Mib, [1], (RomWriteMode)7, "mode"));
    }

    [Fact]
    public void Ram_or_rom_beyond_what_the_host_allows_is_refused_and_its_reservation_undone()
    {
        using GlobalMemoryManager declining = TestVms.CreateManager(hostMib: 4, overcommitRatio: 1.0);
        using VirtualMachine small = declining.AddVm(ramPages: 16);
        TestVms.FailsUnchanged(declining, small, GmmError.ReservationDeclined,
            () => small.Memory.RegisterRom(Mib, new byte[1000 * Page], RomWriteMode.Ignore, "huge"));

        TestVms.FailsUnchanged(declining, small, GmmError.ReservationDeclined,
            () => small.Memory.RegisterRam(Mib, 1000 * Page, "huge"));

        using GlobalMemoryManager full = TestVms.CreateManager(hostMib: 4, overcommitRatio: 4.0);
        using VirtualMachine vm = full.AddVm(ramPages: 16);
        TestVms.FailsUnchanged(full, vm, GmmError.HitGlobalLimit,
            () => vm.Memory.RegisterRom(Mib, new byte[2000 * Page], RomWriteMode.Ignore, "huge"));
    }
}
