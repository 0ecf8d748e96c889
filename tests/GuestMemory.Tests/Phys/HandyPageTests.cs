using GuestMemory.Gmm;
using GuestMemory.Phys;

namespace GuestMemory.Tests.Phys;

/// <summary>
/// The first write to a zero page takes one of the VM's 128 handy pages; when 8 or fewer remain, one batched
/// Gmm call refills them and records the guest frames of the pages put to use since the last call.
/// </summary>
public sealed class HandyPageTests
{
    private const int PageSize = TestVms.PageSize;

    [Fact]
    public void First_write_takes_a_handy_page_from_one_batch_of_128()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        using VirtualMachine vm = gmm.AddVm(ramPages: 256);
        vm.Memory.Write(7 * PageSize + 100, [1, 2, 3]);

        GuestMemoryStatistics stats = vm.Memory.GetStatistics();
        Assert.Equal((1L, 1L, HandyPages.Capacity - 1), (stats.FirstWrites, stats.HandyRefills, stats.HandyPages));
        Assert.Equal(HandyPages.Capacity, gmm.Statistics.PrivatePages);
        GuestPageInfo page = vm.Memory.GetPage(7 * PageSize);
        Assert.Equal((GuestPageState.Allocated, true), (page.State, page.WrittenTo));
        HostPageInfo host = gmm.Pages.InspectPage(page.HostPage);
        Assert.Equal((HostPageState.Private, vm.Handle, PageDescriptor.NoGuestFrame), (host.State, host.Owner, host.GuestFrame));
        Assert.Equal(new byte[] { 0, 1, 2, 3, 0 }, vm.Memory.ReadBytes(7 * PageSize + 99, 5));
        gmm.Verify();
    }

    [Fact]
    public void Refill_happens_in_one_call_at_8_left_and_records_the_guest_frames()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        using VirtualMachine vm = gmm.AddVm(ramPages: 256);
        int beforeRefill = HandyPages.Capacity - HandyPages.RefillThreshold - 1; // leaves 9
        for (int i = 0; i < beforeRefill; i++) vm.Memory.WriteUInt64((ulong)(i * PageSize), (ulong)i + 1);
        Assert.Equal((1L, HandyPages.RefillThreshold + 1), (vm.Memory.GetStatistics().HandyRefills, vm.Memory.GetStatistics().HandyPages));
        Assert.All(Enumerable.Range(0, beforeRefill), i => Assert.Equal(PageDescriptor.NoGuestFrame, FrameOf(gmm, vm, i)));
        gmm.Verify();

        vm.Memory.WriteUInt64((ulong)(beforeRefill * PageSize), 999); // 8 left: one batched refill
        GuestMemoryStatistics stats = vm.Memory.GetStatistics();
        Assert.Equal((2L, HandyPages.Capacity), (stats.HandyRefills, stats.HandyPages));
        Assert.All(Enumerable.Range(0, beforeRefill + 1), i => Assert.Equal((ulong)i, FrameOf(gmm, vm, i)));
        Assert.Equal(beforeRefill + 1 + HandyPages.Capacity, gmm.Statistics.PrivatePages);
        gmm.Verify();
    }

    [Fact]
    public void Pages_put_to_use_and_retired_before_the_refill_are_not_reported()
    {
        // A page taken from the handy pages and freed again (reset, fusion) before the next refill must not be
        // reported to the Gmm: by then it is free or somebody else's.
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        using VirtualMachine vm = gmm.AddVm(ramPages: 256);
        vm.Memory.WriteUInt64(0, 1);
        vm.Memory.WriteUInt64(PageSize, 0);
        vm.Memory.Reset();
        Assert.Equal(0, gmm.Deferred.Count);

        for (int i = 0; i < HandyPages.Capacity; i++) vm.Memory.WriteUInt64((ulong)(i * PageSize), (ulong)i + 1);

        Assert.True(vm.Memory.GetStatistics().HandyRefills >= 2);
        for (int i = 0; i < HandyPages.Capacity; i++) Assert.Equal((ulong)i + 1, vm.Memory.ReadUInt64((ulong)(i * PageSize)));
        gmm.Verify();
    }

    [Fact]
    public void A_page_retired_by_a_request_is_not_reported_for_its_old_frame()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        using VirtualMachine vm = gmm.AddVm(ramPages: 256);
        vm.Memory.WriteUInt64(0, 0); // allocated but all zero
        Assert.True(PageRequests.ArmWriteMonitoring(vm.Memory, 0));
        Assert.Equal(1, PageRequests.Merge(gmm.Pages, [(vm.Memory, 0UL)])); // zero detection: back to the zero page
        gmm.ReclaimRetiredPages();

        for (int i = 1; i <= HandyPages.Capacity; i++) vm.Memory.WriteUInt64((ulong)(i * PageSize), (ulong)i);

        Assert.Equal(GuestPageState.Zero, vm.Memory.GetPage(0).State);
        gmm.Verify();
    }

    [Fact]
    public void A_write_that_needs_more_pages_than_the_account_allows_writes_nothing()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        using VirtualMachine vm = gmm.AddVm(ramPages: 256);
        gmm.Pages.UpdateReservation(vm.Handle, new AccountPages(4, 0, 0));
        vm.Memory.Write(0, [9]);
        PhysSnapshot before = PhysSnapshot.Take(gmm, vm);

        TestVms.Fails(GmmError.HitVmAccountLimit, () => vm.Memory.Write(0, Enumerable.Repeat((byte)7, 5 * PageSize).ToArray()));

        // Entries and bytes are as they were; the pages the refill could get stay at hand (Gmm figures may move).
        PhysSnapshot after = PhysSnapshot.Take(gmm, vm);
        Assert.Equal(before.Entries, after.Entries);
        Assert.Equal(before.Content, after.Content);
        Assert.Equal(before.Memory with { HandyPages = 0, HandyRefills = 0 }, after.Memory with { HandyPages = 0, HandyRefills = 0 });
        gmm.Verify();
    }

    private static ulong FrameOf(GlobalMemoryManager gmm, VirtualMachine vm, int frame) =>
        gmm.Pages.InspectPage(vm.Memory.GetPage((ulong)frame * PageSize).HostPage).GuestFrame;
}
