using GuestMemory.Gmm;
using GuestMemory.Phys;

namespace GuestMemory.Tests.Phys;

/// <summary>A write to a SHARED page makes a private copy and drops the shared reference; the last reference frees the page.</summary>
public sealed class CopyOnWriteTests
{
    private const ulong Page = TestVms.PageSize;

    [Fact]
    public void Merging_retires_the_private_pages_and_counts_one_shared_page()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        using VirtualMachine a = gmm.AddVm(name: "a");
        using VirtualMachine b = gmm.AddVm(name: "b");
        byte[] data = TestVms.Bytes((int)Page, 1);
        long privateBefore = gmm.Statistics.PrivatePages;

        PageId shared = SharedPages.ShareOnePage(gmm, data, (a.Memory, 5 * Page), (b.Memory, 9 * Page));
        gmm.ReclaimRetiredPages();

        GmmStatistics s = gmm.Statistics;
        Assert.Equal((1L, 1L, privateBefore + 2 * HandyPages.Capacity - 2), (s.SharedPages, s.DuplicatePages, s.PrivatePages));
        Assert.Equal(2u, gmm.Pages.GetSharedPageInfo(shared).References);
        Assert.Equal(data, a.Memory.ReadBytes(5 * Page, (int)Page));
        Assert.Equal(data, b.Memory.ReadBytes(9 * Page, (int)Page));
        gmm.Verify();
    }

    [Fact]
    public void A_write_makes_a_private_copy_and_the_last_reference_frees_the_shared_page()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        using VirtualMachine a = gmm.AddVm(name: "a");
        using VirtualMachine b = gmm.AddVm(name: "b");
        byte[] data = TestVms.Bytes((int)Page, 2);
        PageId shared = SharedPages.ShareOnePage(gmm, data, (a.Memory, 0), (b.Memory, 0));

        a.Memory.WriteUInt64(8, 0xDEAD_BEEF); // fast-path entry point, slow path: the page is shared
        byte[] expected = (byte[])data.Clone();
        BitConverter.GetBytes(0xDEAD_BEEFUL).CopyTo(expected, 8);
        GuestPageInfo copy = a.Memory.GetPage(0);
        Assert.Equal((GuestPageState.Allocated, true), (copy.State, copy.WrittenTo));
        Assert.NotEqual(shared, copy.HostPage);
        Assert.Equal(expected, a.Memory.ReadBytes(0, (int)Page));
        Assert.Equal(data, b.Memory.ReadBytes(0, (int)Page));
        Assert.Equal(1, a.Memory.GetStatistics().CopyOnWriteBreaks);
        gmm.Verify();
        gmm.ReclaimRetiredPages();
        Assert.False(gmm.Pages.GetSharedReferences(a.Handle).ContainsKey(shared));
        Assert.Equal(1u, gmm.Pages.GetSharedPageInfo(shared).References);

        b.Memory.Write(Page - 1, [1, 2]); // a write across the shared page's end breaks the share too
        gmm.ReclaimRetiredPages();
        Assert.Equal(0L, gmm.Statistics.SharedPages);
        Assert.Throws<GmmException>(() => gmm.Pages.GetSharedPageInfo(shared)); // free, or its chunk went back to the host
        Assert.Equal(data.AsSpan(0, (int)Page - 1).ToArray(), b.Memory.ReadBytes(0, (int)Page - 1));
        gmm.Verify();
    }

    [Fact]
    public void A_full_page_write_to_a_shared_page_replaces_it_without_copying_first()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        using VirtualMachine a = gmm.AddVm(name: "a");
        using VirtualMachine b = gmm.AddVm(name: "b");
        SharedPages.ShareOnePage(gmm, TestVms.Bytes((int)Page, 3), (a.Memory, 0), (b.Memory, 0));
        byte[] fresh = TestVms.Bytes((int)Page, 4);
        a.Memory.Write(0, fresh);
        Assert.Equal(fresh, a.Memory.ReadBytes(0, (int)Page));
        Assert.Equal(TestVms.Bytes((int)Page, 3), b.Memory.ReadBytes(0, (int)Page));
        gmm.Verify();
    }

    [Fact]
    public void A_write_mapping_of_a_shared_page_maps_a_private_copy()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        using VirtualMachine a = gmm.AddVm(name: "a");
        using VirtualMachine b = gmm.AddVm(name: "b");
        byte[] data = TestVms.Bytes((int)Page, 5);
        SharedPages.ShareOnePage(gmm, data, (a.Memory, Page), (b.Memory, Page));
        using (WriteMapping mapping = b.Memory.MapForWrite(Page))
        {
            Assert.Equal(data, mapping.Span.ToArray());
            mapping.Span.Clear();
        }
        Assert.Equal(data, a.Memory.ReadBytes(Page, (int)Page));
        Assert.False(b.Memory.ReadBytes(Page, (int)Page).AsSpan().ContainsAnyExcept((byte)0));
        gmm.Verify();
    }

    [Fact]
    public void Two_pages_of_one_vm_sharing_a_page_are_released_together()
    {
        // Reset retires both references in one batch to the Gmm.
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        using VirtualMachine vm = gmm.AddVm();
        PageId shared = SharedPages.ShareOnePage(gmm, TestVms.Bytes((int)Page, 6), (vm.Memory, 0), (vm.Memory, 7 * Page));
        Assert.Equal(2, gmm.Pages.GetSharedReferences(vm.Handle)[shared]);
        gmm.ReclaimRetiredPages();

        vm.Memory.Reset();

        Assert.Equal((0L, 0), (gmm.Statistics.SharedPages, gmm.Deferred.Count));
        Assert.Empty(gmm.Pages.GetSharedReferences(vm.Handle));
        gmm.Verify();
    }

    [Fact]
    public void A_page_merged_after_its_frame_was_reported_leaves_one_page_per_frame()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        using VirtualMachine a = gmm.AddVm(ramPages: 256, name: "a");
        using VirtualMachine b = gmm.AddVm(name: "b");
        a.Memory.Write(0, TestVms.Bytes((int)Page, 7));
        for (int i = 1; i < HandyPages.Capacity; i++) a.Memory.WriteUInt64((ulong)i * Page, 1); // frame 0 is reported
        Assert.Equal(0UL, gmm.Pages.InspectPage(a.Memory.GetPage(0).HostPage).GuestFrame);
        SharedPages.ShareOnePage(gmm, TestVms.Bytes((int)Page, 7), (a.Memory, 0), (b.Memory, 0));

        a.Memory.WriteUInt64(0, 2); // breaks the share: a new private page for frame 0
        for (int i = HandyPages.Capacity; i < 250; i++) a.Memory.WriteUInt64((ulong)i * Page, 1); // and report it

        gmm.Verify();
    }
}
