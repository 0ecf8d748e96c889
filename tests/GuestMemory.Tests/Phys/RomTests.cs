using GuestMemory.Gmm;
using GuestMemory.Phys;

namespace GuestMemory.Tests.Phys;

/// <summary>ROM: filled from its image in one allocation, writes ignored or shadowed as the range says, re-initialised by reset.</summary>
public sealed class RomTests
{
    private const ulong Page = TestVms.PageSize;
    private const ulong RomAt = 0x10_0000;

    [Fact]
    public void Registration_allocates_every_page_at_once_with_frames_and_pads_the_last_page_with_zeros()
    {
        // Make free pages that are not zero, so unzeroed ROM pages would show stale bytes in the padding.
        using GlobalMemoryManager gmm = TestVms.CreateManager(spareChunks: 4);
        using (VirtualMachine dirty = gmm.AddVm(ramPages: 256, name: "dirty"))
            dirty.Memory.Write(0, Enumerable.Repeat((byte)0xCC, 256 * (int)Page).ToArray());
        using VirtualMachine vm = gmm.AddVm(ramPages: 16);
        long reservedBefore = vm.Accounts.Reserved.Base;
        byte[] image = TestVms.Bytes(3 * (int)Page + 10, 1);

        MemoryRange rom = vm.Memory.RegisterRom(RomAt, image, RomWriteMode.Ignore, "bios");

        Assert.Equal(reservedBefore + 4, vm.Accounts.Reserved.Base);
        Assert.Equal(4L, gmm.Statistics.PrivatePages);
        Assert.Equal(0L, vm.Memory.GetStatistics().HandyRefills);
        for (int i = 0; i < 4; i++)
        {
            GuestPageInfo page = vm.Memory.GetPage(RomAt + (ulong)i * Page);
            Assert.Equal((GuestPageType.Rom, GuestPageState.Allocated), (page.Type, page.State));
            Assert.Equal((RomAt >> Paging.PageShift) + (ulong)i, gmm.Pages.InspectPage(page.HostPage).GuestFrame);
        }
        byte[] expected = new byte[4 * Page];
        image.CopyTo(expected, 0);
        Assert.Equal(expected, vm.Memory.ReadBytes(RomAt, (int)rom.Size));
        gmm.Verify();
    }

    [Fact]
    public void Writes_to_ignoring_rom_are_dropped()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        using VirtualMachine vm = gmm.AddVm(ramPages: 16);
        byte[] image = TestVms.Bytes((int)Page, 2);
        vm.Memory.RegisterRom(RomAt, image, RomWriteMode.Ignore, "bios");
        GmmStatistics before = gmm.Statistics;
        vm.Memory.Write(RomAt + 5, [1, 2, 3]);
        vm.Memory.WriteUInt64(RomAt + 100, 42);
        Assert.Equal(image, vm.Memory.ReadBytes(RomAt, (int)Page));
        Assert.Equal(before, gmm.Statistics);
        gmm.Verify();
    }

    [Fact]
    public void Writes_to_shadow_rom_land_and_reset_restores_the_image()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        using VirtualMachine vm = gmm.AddVm(ramPages: 16);
        byte[] image = TestVms.Bytes(2 * (int)Page - 1, 3);
        vm.Memory.RegisterRom(RomAt, image, RomWriteMode.Shadow, "shadow");
        vm.Memory.RegisterRom(2 * RomAt, image, RomWriteMode.Ignore, "ignore");
        PageId firstPage = vm.Memory.GetPage(RomAt).HostPage;

        vm.Memory.Write(RomAt + Page - 2, [9, 9, 9, 9]);
        using (WriteMapping m = vm.Memory.MapForWrite(RomAt)) m.Span[0] = 0x77;
        Assert.Equal(new byte[] { 0x77 }, vm.Memory.ReadBytes(RomAt, 1));
        Assert.Equal(new byte[] { 9, 9, 9, 9 }, vm.Memory.ReadBytes(RomAt + Page - 2, 4));
        Assert.Equal(firstPage, vm.Memory.GetPage(RomAt).HostPage); // shadow writes stay in the ROM's own page

        vm.Memory.Reset();

        byte[] expected = new byte[2 * Page];
        image.CopyTo(expected, 0);
        Assert.Equal(expected, vm.Memory.ReadBytes(RomAt, (int)(2 * Page)));
        Assert.Equal(expected, vm.Memory.ReadBytes(2 * RomAt, (int)(2 * Page)));
        Assert.Equal((GuestPageState.Allocated, false, 0), (vm.Memory.GetPage(RomAt).State, vm.Memory.GetPage(RomAt).WrittenTo, vm.Memory.GetPage(RomAt).WriteMappings));
        gmm.Verify();
    }

    [Fact]
    public void A_write_to_shadow_rom_marks_the_page_written_and_dirty()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        using VirtualMachine vm = gmm.AddVm(ramPages: 16);
        vm.Memory.RegisterRom(RomAt, new byte[Page], RomWriteMode.Shadow, "shadow");
        Assert.Equal((false, false), (vm.Memory.GetPage(RomAt).WrittenTo, vm.Memory.GetPage(RomAt).Dirty));

        vm.Memory.Write(RomAt + 1, [1]);

        Assert.Equal((true, true), (vm.Memory.GetPage(RomAt).WrittenTo, vm.Memory.GetPage(RomAt).Dirty));
        gmm.Verify();
    }
}
