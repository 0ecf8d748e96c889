using GuestMemory.Gmm;
using GuestMemory.Phys;

namespace GuestMemory.Tests.Phys;

/// <summary>Reset: every RAM page back to ZERO and returned to the Gmm, ballooned pages back to ZERO, ROM re-initialised.</summary>
public sealed class ResetTests
{
    private const ulong Page = TestVms.PageSize;

    [Fact]
    public void Reset_returns_every_ram_page_and_empties_the_balloon()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        using VirtualMachine vm = gmm.AddVm(ramPages: 64);
        using VirtualMachine other = gmm.AddVm(ramPages: 64, name: "other");
        vm.Memory.RegisterRom(0x10_0000, [1, 2, 3], RomWriteMode.Shadow, "rom");
        vm.Memory.Write(0, TestVms.Bytes(20 * (int)Page, 1));
        PageRequests.ArmWriteMonitoring(vm.Memory, 3 * Page);
        SharedPages.ShareOnePage(gmm, TestVms.Bytes((int)Page, 2), (vm.Memory, 30 * Page), (other.Memory, 0));
        Assert.True(PageRequests.Balloon(vm.Memory, 40 * Page));
        gmm.Pages.Port.BalloonedPages(vm.Handle, 1, [], completed: true);
        vm.Memory.Write(0x10_0000, [7]);
        gmm.ReclaimRetiredPages();
        long otherPages = gmm.Pages.GetVmStatistics(other.Handle).Allocated.Base;

        vm.Memory.Reset();

        GuestMemoryStatistics s = vm.Memory.GetStatistics();
        Assert.Equal((64L, 1L, 0L, 0L, 0L), (s.ZeroPages, s.AllocatedPages, s.WriteMonitoredPages, s.SharedPages, s.BalloonedPages));
        Assert.False(vm.Memory.ReadBytes(0, 64 * (int)Page).AsSpan().ContainsAnyExcept((byte)0));
        Assert.Equal(new byte[] { 1, 2, 3, 0 }, vm.Memory.ReadBytes(0x10_0000, 4));
        GmmVmStatistics accounts = vm.Accounts;
        Assert.Equal((1L + s.HandyPages, 0L, 0L), (accounts.Allocated.Base, accounts.SharedPages, accounts.BalloonedPages));
        Assert.Equal(0, gmm.Deferred.Count);
        Assert.Equal(otherPages, gmm.Pages.GetVmStatistics(other.Handle).Allocated.Base);
        Assert.Equal(TestVms.Bytes((int)Page, 2), other.Memory.ReadBytes(0, (int)Page));

        vm.Memory.Write(40 * Page, [5]); // the ballooned page is ordinary RAM again
        Assert.Equal(5, vm.Memory.ReadBytes(40 * Page, 1)[0]);
        gmm.Verify();
    }
}
