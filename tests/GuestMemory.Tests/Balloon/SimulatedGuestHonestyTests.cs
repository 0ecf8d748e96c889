using GuestMemory.Balloon;
using GuestMemory.Simulation;
using GuestMemory.Phys;
using GuestMemory.Tests.Balloon.Support;
using static GuestMemory.Tests.Balloon.Support.BalloonHost;

namespace GuestMemory.Tests.Balloon;

/// <summary>
/// The simulated guest's driver is honest: it balloons only pages its workload does not use, it asks for
/// pages back when its workload grows instead of taking them, and every page keeps its content.
/// </summary>
public sealed class SimulatedGuestHonestyTests
{
    [Fact]
    public void It_never_balloons_a_used_page_so_an_unreachable_target_stays_pending()
    {
        using var host = new BalloonHost();
        VirtualMachine vm = host.Vm("a", ramMib: 4); // 1024 pages
        using var guest = new SimulatedGuest(vm) { WorkingSetPages = 900 };
        guest.RunUntilIdle();

        vm.Balloon.SetTarget(500);
        guest.RunUntilIdle();

        Assert.Equal(new BalloonDriverStatus(124, 0, 900, 900), guest.Status);
        Assert.Equal(124, vm.Accounts.BalloonedPages);
        Assert.Equal(500, vm.Accounts.RequestedBalloonPages);
        Assert.Equal(124, vm.Accounts.ActuallyBalloonedPages);
        Assert.False(vm.Balloon.IsSettled);
        Assert.All(guest.UsedFrames(), f => Assert.NotEqual(GuestPageState.Ballooned, PageState(vm, f)));
        Assert.Empty(guest.VerifyContent());
        host.Manager.Verify();
    }

    [Fact]
    public void It_balloons_the_pages_it_freed_last_so_the_host_gets_memory_back()
    {
        using var host = new BalloonHost();
        VirtualMachine vm = host.Vm("a", ramMib: 4);
        using var guest = new SimulatedGuest(vm) { WorkingSetPages = 600 };
        guest.RunUntilIdle();
        guest.WorkingSetPages = 100;
        guest.RunUntilIdle();
        long privateBefore = vm.Accounts.PrivatePages;

        vm.Balloon.SetTarget(300);
        guest.RunUntilIdle();

        Assert.Equal(privateBefore - 300, vm.Accounts.PrivatePages);
        Assert.Equal(300, guest.Status.BalloonedPages);
        Assert.True(vm.Balloon.IsSettled);
        Assert.Empty(guest.VerifyContent());
        host.Manager.Verify();
    }

    [Fact]
    public void When_its_workload_grows_it_asks_for_pages_back_and_leaves_the_balloon_alone()
    {
        using var host = new BalloonHost();
        VirtualMachine vm = host.Vm("a", ramMib: 4);
        using var guest = new SimulatedGuest(vm) { WorkingSetPages = 200 };
        vm.Balloon.SetTarget(800);
        guest.RunUntilIdle();
        Assert.Equal(new BalloonDriverStatus(800, 24, 200, 200), guest.Status);

        guest.WorkingSetPages = 400;
        guest.RunUntilIdle();

        Assert.Equal(new BalloonDriverStatus(800, 0, 224, 400), guest.Status);
        Assert.Equal(176, guest.Status.WantedPages);
        Assert.Equal(800, vm.Accounts.BalloonedPages);

        vm.Balloon.SetTarget(600);
        guest.RunUntilIdle();

        Assert.Equal(new BalloonDriverStatus(600, 24, 400, 400), guest.Status);
        Assert.Equal(200, guest.Counters.PagesDeflated);
        Assert.Empty(guest.VerifyContent());
        host.Manager.Verify();
    }

    [Fact]
    public void Asking_for_pages_is_reported_once_as_a_status_change()
    {
        using var host = new BalloonHost();
        VirtualMachine vm = host.Vm("a", ramMib: 4);
        using var guest = new SimulatedGuest(vm) { WorkingSetPages = 100 };
        guest.RunUntilIdle();
        vm.Balloon.SetTarget(1000);
        guest.RunUntilIdle();
        var reports = new List<BalloonDriverStatus>();
        guest.StatusChanged += () => reports.Add(guest.Status);

        guest.WorkingSetPages = 200;
        guest.RunUntilIdle();

        Assert.Equal(100, Assert.Single(reports).WantedPages); // 924 pages went to the balloon, none are free
    }

    [Fact]
    public void Every_page_keeps_its_content_through_inflate_deflate_and_churn()
    {
        using var host = new BalloonHost(hostMib: 32);
        VirtualMachine vm = host.Vm("a", ramMib: 8);
        using var guest = new SimulatedGuest(vm, new SimulatedGuestOptions { Seed = 5, TouchPagesPerTick = 32 });
        var random = new Random(5);
        for (int round = 0; round < 40; round++)
        {
            guest.WorkingSetPages = random.Next(0, 2048);
            vm.Balloon.SetTarget(random.Next(0, 2048));
            guest.RunUntilIdle();
            Assert.True(guest.Status.BalloonedPages + guest.Status.UsedPages + guest.Status.FreePages == 2048);
        }

        Assert.Equal(0, guest.Counters.ContentErrors);
        Assert.True(guest.Counters.PagesChecked > 1000, "the workload checked pages as it went");
        Assert.Empty(guest.VerifyContent());
        host.Manager.Verify();
    }

    [Fact]
    public void A_reboot_empties_the_balloon_and_the_driver_works_towards_the_target_again()
    {
        using var host = new BalloonHost();
        VirtualMachine vm = host.Vm("a", ramMib: 4);
        using var guest = new SimulatedGuest(vm) { WorkingSetPages = 300 };
        vm.Balloon.SetTarget(400);
        guest.RunUntilIdle();

        guest.Reboot();

        Assert.Equal(0, vm.Accounts.BalloonedPages);
        Assert.Equal(0, vm.Memory.GetStatistics().BalloonedPages);
        Assert.Equal(new BalloonDriverStatus(0, 1024, 0, 0), guest.Status);
        Assert.False(vm.Balloon.IsSettled);
        host.Manager.Verify();

        guest.RunUntilIdle();

        Assert.Equal(400, vm.Accounts.BalloonedPages);
        Assert.True(vm.Balloon.IsSettled);
        Assert.Empty(guest.VerifyContent());
    }

    [Fact]
    public void On_its_own_thread_it_reaches_the_target_the_host_posts()
    {
        using var host = new BalloonHost();
        VirtualMachine vm = host.Vm("a", ramMib: 4);
        using var guest = new SimulatedGuest(vm) { WorkingSetPages = 200 };
        using var settled = new SemaphoreSlim(0);
        vm.Balloon.Settled += (_, _) => settled.Release();
        guest.Start();

        vm.Balloon.SetTarget(700);

        Assert.True(settled.Wait(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken), "the balloon settles");
        guest.Stop();
        Assert.Null(guest.Fault);
        Assert.Equal(700, vm.Accounts.BalloonedPages);
        Assert.Equal(200, guest.Status.UsedPages);
        Assert.Empty(guest.VerifyContent());
        host.Manager.Verify();
    }
}
