using GuestMemory.Gmm;
using GuestMemory.Phys;

namespace GuestMemory.Tests.Phys;

/// <summary>MapForRead / MapForWrite: a disposable lock over one page; while mapped the page is never shared, moved or freed.</summary>
public sealed class MappingLockTests
{
    private const ulong Page = TestVms.PageSize;

    [Fact]
    public void A_read_mapping_shows_the_page_and_counts_in_the_entry_until_disposed()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        using VirtualMachine vm = gmm.AddVm();
        byte[] data = TestVms.Bytes((int)Page, 1);
        vm.Memory.Write(3 * Page, data);
        using (ReadMapping first = vm.Memory.MapForRead(3 * Page))
        using (ReadMapping second = vm.Memory.MapForRead(3 * Page))
        {
            Assert.Equal(data, first.Span.ToArray());
            Assert.True(second.Span.SequenceEqual(first.Span));
            Assert.Equal(2, vm.Memory.GetPage(3 * Page).ReadMappings);
            gmm.Verify();
        }
        Assert.Equal(0, vm.Memory.GetPage(3 * Page).ReadMappings);
        gmm.Verify();
    }

    [Fact]
    public void A_write_through_a_write_mapping_is_visible_and_marks_the_page_written()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        using VirtualMachine vm = gmm.AddVm();
        using (WriteMapping mapping = vm.Memory.MapForWrite(4 * Page)) // a zero page gets its own page first
        {
            Assert.Equal(GuestPageState.Allocated, vm.Memory.GetPage(4 * Page).State);
            Assert.Equal(1, vm.Memory.GetPage(4 * Page).WriteMappings);
            mapping.Span[10] = 0x5A;
            mapping.Span[^1] = 0xA5;
            Assert.Equal(0x5A, vm.Memory.ReadBytes(4 * Page + 10, 1)[0]);
        }
        GuestPageInfo page = vm.Memory.GetPage(4 * Page);
        Assert.Equal((0, true, true), (page.WriteMappings, page.WrittenTo, page.Dirty));
        Assert.Equal(0xA5, vm.Memory.ReadBytes(5 * Page - 1, 1)[0]);
        gmm.Verify();
    }

    [Fact]
    public void While_mapped_a_page_update_request_fails_its_precondition()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        using VirtualMachine vm = gmm.AddVm();
        vm.Memory.Write(0, [1]);
        vm.Memory.Write(Page, [1]);
        using (vm.Memory.MapForRead(0))
            Assert.False(TryArmAsFusionWould(vm.Memory, 0));
        using (vm.Memory.MapForWrite(Page))
            Assert.False(TryArmAsFusionWould(vm.Memory, Page));
        Assert.Equal(GuestPageState.Allocated, vm.Memory.GetPage(0).State);
        Assert.Equal(GuestPageState.Allocated, vm.Memory.GetPage(Page).State);
        Assert.True(TryArmAsFusionWould(vm.Memory, 0)); // once unmapped the same request applies
        gmm.Verify();
    }

    /// <summary>A request built from the entry as it is now (lock counts included): only the VM can refuse it.</summary>
    private static bool TryArmAsFusionWould(GuestPhysicalMemory memory, ulong address)
    {
        ulong e = memory.Entry(address);
        return PageRequests.Apply(memory, address, e, GuestPage.WithState(e, GuestPageState.WriteMonitored));
    }

    [Fact]
    public void Reset_and_destroy_refuse_while_a_page_is_mapped()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        VirtualMachine vm = gmm.AddVm();
        vm.Memory.Write(2 * Page, [7]);
        using (vm.Memory.MapForRead(2 * Page))
        {
            TestVms.FailsUnchanged(gmm, vm, GmmError.PageLocked, vm.Memory.Reset);
            TestVms.FailsUnchanged(gmm, vm, GmmError.PageLocked, () => gmm.DestroyVm(vm));
        }
        using (vm.Memory.MapForWrite(2 * Page))
            TestVms.FailsUnchanged(gmm, vm, GmmError.PageLocked, vm.Dispose);
        Assert.False(vm.IsDestroyed);
        vm.Memory.Reset();
        gmm.DestroyAllAndVerify();
    }

    [Fact]
    public void A_read_mapping_of_a_shared_page_keeps_its_bytes_while_the_guest_writes_the_page()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        using VirtualMachine a = gmm.AddVm(name: "a");
        using VirtualMachine b = gmm.AddVm(name: "b");
        byte[] data = TestVms.Bytes((int)Page, 2);
        SharedPages.ShareOnePage(gmm, data, (a.Memory, 0), (b.Memory, 0));
        using (ReadMapping mapping = a.Memory.MapForRead(0))
        {
            a.Memory.Write(0, [0xEE]); // copy-on-write: the guest's page moves, the mapping keeps the shared one
            gmm.ReclaimRetiredPages();
            Assert.Equal(data, mapping.Span.ToArray());
            gmm.Verify();
        }
        Assert.Equal(0xEE, a.Memory.ReadBytes(0, 1)[0]);
        Assert.Equal(data.AsSpan(1).ToArray(), a.Memory.ReadBytes(1, (int)Page - 1));
        gmm.Verify();
    }

    [Fact]
    public void Zero_and_ballooned_pages_map_the_zero_page_for_reading()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        using VirtualMachine vm = gmm.AddVm();
        Assert.True(PageRequests.Balloon(vm.Memory, Page));
        GmmStatistics before = gmm.Statistics;
        using (ReadMapping zero = vm.Memory.MapForRead(0))
        using (ReadMapping ballooned = vm.Memory.MapForRead(Page))
        {
            Assert.False(zero.Span.ContainsAnyExcept((byte)0));
            Assert.False(ballooned.Span.ContainsAnyExcept((byte)0));
        }
        Assert.Equal(before, gmm.Statistics);
        gmm.Verify();
    }

    [Fact]
    public void Bad_maps_are_typed_errors_that_change_nothing()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        using VirtualMachine vm = gmm.AddVm(ramPages: 16);
        vm.Memory.RegisterRom(16 * Page, [1, 2], RomWriteMode.Ignore, "rom");
        Assert.True(PageRequests.Balloon(vm.Memory, Page));
        TestVms.FailsUnchanged(gmm, vm, GmmError.UnalignedAddress, () => vm.Memory.MapForRead(Page + 8).Dispose());
        TestVms.FailsUnchanged(gmm, vm, GmmError.UnalignedAddress, () => vm.Memory.MapForWrite(1).Dispose());
        TestVms.FailsUnchanged(gmm, vm, GmmError.AddressNotMapped, () => vm.Memory.MapForRead(17 * Page).Dispose());
        TestVms.FailsUnchanged(gmm, vm, GmmError.AddressNotMapped, () => vm.Memory.MapForWrite(ulong.MaxValue - Page + 1).Dispose());
        TestVms.FailsUnchanged(gmm, vm, GmmError.NotRam, () => vm.Memory.MapForWrite(16 * Page).Dispose());
        TestVms.FailsUnchanged(gmm, vm, GmmError.PageBallooned, () => vm.Memory.MapForWrite(Page).Dispose());
    }
}
