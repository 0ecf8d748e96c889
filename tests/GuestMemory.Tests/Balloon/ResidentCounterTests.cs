using System.Text;
using GuestMemory.Host;
using GuestMemory.Tests.Balloon.Support;

namespace GuestMemory.Tests.Balloon;

/// <summary>The controller's RSS reading: the kernel's resident counters, the same figure as the page-table walk.</summary>
[Collection(BalloonRssCollection.Name)]
public sealed class ResidentCounterTests
{
    [Fact]
    public void The_resident_field_of_statm_is_read_in_pages()
    {
        Assert.Equal(678, HostRss.ParseStatmResidentPages(Encoding.ASCII.GetBytes("12345 678 90 1 0 2 0\n")));
    }

    [Theory]
    [InlineData("12345")]
    [InlineData("12345 x 90")]
    public void A_statm_without_a_resident_field_is_not_supported(string text)
    {
        var e = Assert.Throws<GmmException>(() => HostRss.ParseStatmResidentPages(Encoding.ASCII.GetBytes(text)));
        Assert.Equal(GmmError.NotSupported, e.Error);
    }

    [Fact]
    public void The_counters_agree_with_smaps_rollup_while_guest_memory_comes_and_goes()
    {
        using var host = new BalloonHost(hostMib: 64);
        VirtualMachine vm = host.Vm("a", ramMib: 48);
        AssertAgree();
        BalloonHost.Fill(vm, 0, 40 * BalloonHost.PagesPerMib, seed: 1);
        AssertAgree();
        vm.Memory.InflateBalloon(BalloonHost.Addresses(0, 30 * BalloonHost.PagesPerMib));
        AssertAgree();
    }

    private static void AssertAgree()
    {
        long counter = HostRss.ReadCounterBytes();
        long walked = HostRss.ReadBytes();
        Assert.InRange(counter - walked, -(2L << 20), 2L << 20);
    }
}
