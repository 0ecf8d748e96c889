using GuestMemory.Gmm;
using GuestMemory.Phys;
using GuestMemory.Tests.Balloon.Support;
using static GuestMemory.Tests.Balloon.Support.BalloonHost;

namespace GuestMemory.Tests.Balloon;

/// <summary>Guest-side inflate and deflate, in batches, with the Gmm's balloon accounting.</summary>
public sealed class BalloonInflateDeflateTests
{
    [Fact]
    public void Inflate_gives_the_host_pages_back_and_counts_every_page_as_ballooned()
    {
        using var host = new BalloonHost();
        VirtualMachine vm = host.Vm("a", ramMib: 4);
        Fill(vm, 0, 512, seed: 7);
        long privateBefore = vm.Accounts.PrivatePages;

        int freed = vm.Memory.InflateBalloon([.. Addresses(0, 256), .. Addresses(600, 128)]);

        Assert.Equal(256, freed); // 128 of the pages were zero pages: nothing to give back for them
        Assert.Equal(privateBefore - 256, vm.Accounts.PrivatePages);
        Assert.Equal(384, vm.Accounts.BalloonedPages);
        Assert.Equal(384, vm.Memory.GetStatistics().BalloonedPages);
        Assert.Equal(384, host.Manager.Statistics.BalloonedPages);
        Assert.All(new long[] { 0, 255, 600, 727 }, f => Assert.Equal(GuestPageState.Ballooned, PageState(vm, f)));
        Assert.True(Holds(vm, 256, 256, seed: 7), "pages left out of the balloon keep their content");
        var page = new byte[Paging.PageSize];
        vm.Memory.Read(Address(3), page);
        Assert.True(page.AsSpan().IndexOfAnyExcept((byte)0) < 0, "a ballooned page reads zero");
        host.Manager.Verify();
    }

    [Fact]
    public void A_write_to_a_ballooned_page_is_refused_and_writes_nothing()
    {
        using var host = new BalloonHost();
        VirtualMachine vm = host.Vm("a");
        Fill(vm, 0, 4, seed: 1);
        vm.Memory.InflateBalloon(Addresses(1, 1));
        string before = host.Snapshot();

        var e = Assert.Throws<GmmException>(() => vm.Memory.Write(Address(0), new byte[3 * Paging.PageSize]));

        Assert.Equal(GmmError.PageBallooned, e.Error);
        Assert.Equal(before, host.Snapshot());
        Assert.True(Holds(vm, 0, 1, seed: 1), "the page before the ballooned one was not written either");
        host.Manager.Verify();
    }

    [Fact]
    public void Deflated_pages_are_zero_pages_that_cost_nothing_until_written()
    {
        using var host = new BalloonHost();
        VirtualMachine vm = host.Vm("a");
        Fill(vm, 0, 300, seed: 3);
        vm.Memory.InflateBalloon(Addresses(0, 300));
        long privateBallooned = vm.Accounts.PrivatePages;

        vm.Memory.DeflateBalloon(Addresses(0, 200));

        Assert.Equal(100, vm.Accounts.BalloonedPages);
        Assert.Equal(privateBallooned, vm.Accounts.PrivatePages);
        Assert.Equal(GuestPageState.Zero, PageState(vm, 0));
        Assert.Equal(GuestPageState.Ballooned, PageState(vm, 250));
        Assert.True(IsZero(vm, 0, 200), "deflated pages read zero");
        Fill(vm, 0, 10, seed: 9);
        Assert.True(Holds(vm, 0, 10, seed: 9));
        host.Manager.Verify();
    }

    [Fact]
    public void The_host_request_is_pending_until_the_guest_has_ballooned_it_all()
    {
        using var host = new BalloonHost();
        VirtualMachine vm = host.Vm("a");
        vm.Balloon.SetTarget(600);
        Assert.Equal((600, 0), Requested(vm));

        vm.Memory.InflateBalloon(Addresses(0, 256));
        Assert.Equal((600, 256), Requested(vm));
        vm.Memory.InflateBalloon(Addresses(256, 256));
        Assert.Equal((600, 512), Requested(vm));

        vm.Memory.InflateBalloon(Addresses(512, 88));
        Assert.Equal((0, 0), Requested(vm)); // reached: the request is complete
        Assert.Equal(600, vm.Accounts.BalloonedPages);
        host.Manager.Verify();
    }

    [Fact]
    public void A_batch_marked_completed_ends_the_request_early()
    {
        using var host = new BalloonHost();
        VirtualMachine vm = host.Vm("a");
        vm.Balloon.SetTarget(600);

        vm.Memory.InflateBalloon(Addresses(0, 100), completed: true);

        Assert.Equal((0, 0), Requested(vm));
        Assert.Equal(100, vm.Accounts.BalloonedPages);
    }

    [Fact]
    public void A_deflate_request_counts_down_as_the_guest_deflates()
    {
        using var host = new BalloonHost();
        VirtualMachine vm = host.Vm("a");
        vm.Memory.InflateBalloon(Addresses(0, 600));
        vm.Balloon.SetTarget(200);
        Assert.Equal(400, vm.Accounts.RequestedDeflatePages);

        vm.Memory.DeflateBalloon(Addresses(0, 256));
        Assert.Equal(144, vm.Accounts.RequestedDeflatePages);
        vm.Memory.DeflateBalloon(Addresses(256, 144));
        Assert.Equal(0, vm.Accounts.RequestedDeflatePages);
        Assert.Equal(200, vm.Accounts.BalloonedPages);
        host.Manager.Verify();
    }

    [Fact]
    public void Reset_empties_the_balloon_and_forgets_the_request()
    {
        using var host = new BalloonHost();
        VirtualMachine vm = host.Vm("a");
        Fill(vm, 0, 100, seed: 5);
        vm.Balloon.SetTarget(500);
        vm.Memory.InflateBalloon(Addresses(0, 300));

        vm.Memory.Reset();

        GmmVmStatistics accounts = vm.Accounts;
        Assert.Equal(0, accounts.BalloonedPages);
        Assert.Equal(0, accounts.RequestedBalloonPages);
        Assert.Equal(0, accounts.ActuallyBalloonedPages);
        Assert.Equal(0, vm.Memory.GetStatistics().BalloonedPages);
        Assert.Equal(0, host.Manager.Statistics.BalloonedPages);
        Assert.Equal(GuestPageState.Zero, PageState(vm, 0));
        host.Manager.Verify();
    }

    [Fact]
    public void Many_batches_add_up()
    {
        using var host = new BalloonHost();
        VirtualMachine vm = host.Vm("a", ramMib: 8);
        Fill(vm, 0, 2048, seed: 2);
        for (long first = 0; first < 1000; first += 100) vm.Memory.InflateBalloon(Addresses(first, 100));
        for (long first = 0; first < 400; first += 50) vm.Memory.DeflateBalloon(Addresses(first, 50));

        Assert.Equal(600, vm.Accounts.BalloonedPages);
        Assert.Equal(600, vm.Memory.GetStatistics().BalloonedPages);
        Assert.True(Holds(vm, 1000, 1048, seed: 2));
        Assert.True(IsZero(vm, 0, 400));
        host.Manager.Verify();
    }

    private static (long Requested, long Actual) Requested(VirtualMachine vm)
    {
        GmmVmStatistics s = vm.Accounts;
        return (s.RequestedBalloonPages, s.ActuallyBalloonedPages);
    }
}
