using GuestMemory.Phys;

namespace GuestMemory.Tests.Phys;

/// <summary>A write to a WRITE_MONITORED page makes it ALLOCATED again (same host page) with the written-to flag.</summary>
public sealed class WriteMonitoringTests
{
    private const ulong Page = TestVms.PageSize;

    public static TheoryData<string> Writers() => ["Write", "WriteUInt64", "MapForWrite"];

    [Theory]
    [MemberData(nameof(Writers))]
    public void Any_write_unmonitors_the_page_in_place(string writer)
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        using VirtualMachine vm = gmm.AddVm();
        byte[] data = TestVms.Bytes((int)Page, 1);
        vm.Memory.Write(2 * Page, data);
        Assert.True(PageRequests.ArmWriteMonitoring(vm.Memory, 2 * Page));
        GuestPageInfo armed = vm.Memory.GetPage(2 * Page);
        Assert.Equal((GuestPageState.WriteMonitored, false), (armed.State, armed.WrittenTo));
        Assert.Equal(data, vm.Memory.ReadBytes(2 * Page, (int)Page)); // reads leave it armed
        Assert.Equal(GuestPageState.WriteMonitored, vm.Memory.GetPage(2 * Page).State);

        switch (writer)
        {
            case "Write": vm.Memory.Write(2 * Page + 8, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]); break;
            case "WriteUInt64": vm.Memory.WriteUInt64(2 * Page + 8, ulong.MaxValue); break;
            default: using (WriteMapping m = vm.Memory.MapForWrite(2 * Page)) m.Span.Slice(8, 8).Fill(0xFF); break;
        }

        GuestPageInfo written = vm.Memory.GetPage(2 * Page);
        Assert.Equal((GuestPageState.Allocated, true, armed.HostPage), (written.State, written.WrittenTo, written.HostPage));
        data.AsSpan(8, 8).Fill(0xFF);
        Assert.Equal(data, vm.Memory.ReadBytes(2 * Page, (int)Page));
        Assert.Equal((0L, 0), (gmm.Statistics.SharedPages, gmm.Deferred.Count));
        gmm.Verify();
    }

    [Fact]
    public void Counts_follow_the_state_changes()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        using VirtualMachine vm = gmm.AddVm(ramPages: 8);
        vm.Memory.Write(0, new byte[3 * Page + 1]);
        PageRequests.ArmWriteMonitoring(vm.Memory, 0);
        PageRequests.ArmWriteMonitoring(vm.Memory, Page);
        GuestMemoryStatistics s = vm.Memory.GetStatistics();
        Assert.Equal((4L, 2L, 2L), (s.ZeroPages, s.AllocatedPages, s.WriteMonitoredPages));
        vm.Memory.Write(Page, [1]);
        s = vm.Memory.GetStatistics();
        Assert.Equal((4L, 3L, 1L), (s.ZeroPages, s.AllocatedPages, s.WriteMonitoredPages));
        gmm.Verify();
    }
}
