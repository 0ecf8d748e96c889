using GuestMemory.Gmm;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Gmm;

/// <summary>Balloon accounting: inflate (freeing the pages that had host pages), deflate, reset and the host's requests.</summary>
public sealed class BalloonTests
{
    [Fact]
    public void Inflating_frees_the_given_pages_and_counts_the_balloon()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm(basePages: 1000);
        PageId[] pages = gmm.Allocate(vm, 100);
        PageId shared = gmm.AllocateSharedPage(vm, checksum: 1);

        gmm.BalloonedPages(vm, 50, [.. pages[..30], shared], completed: false);

        Assert.All(pages[..30], p => Assert.Equal(HostPageState.Free, gmm.GetPageState(p)));
        GmmVmStatistics s = gmm.GetVmStatistics(vm);
        Assert.Equal(50, s.BalloonedPages);
        Assert.Equal(70, s.Allocated.Base);
        Assert.Equal(0, s.SharedPages);
        Assert.Equal(50, gmm.GetStatistics().BalloonedPages);
        gmm.Verify();
    }

    [Fact]
    public void The_balloon_may_not_push_allocated_plus_ballooned_past_the_base_reservation()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm(basePages: 100);
        PageId[] pages = gmm.Allocate(vm, 60);
        gmm.BalloonedPages(vm, 20, [], completed: false);

        GmmAssert.FailsUnchanged(gmm, GmmError.AttemptToFreeTooMuch, () => gmm.BalloonedPages(vm, 21, [], completed: false), pages);
        GmmAssert.FailsUnchanged(gmm, GmmError.AttemptToFreeTooMuch, () => gmm.BalloonedPages(vm, 31, pages[..10], completed: false), pages);
        gmm.BalloonedPages(vm, 30, pages[..10], completed: false);
        Assert.Equal(50, gmm.GetVmStatistics(vm).BalloonedPages);
        gmm.Verify();
    }

    [Fact]
    public void Pages_to_free_must_be_the_vms_own_base_pages_or_nothing_happens()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm(), other = gmm.AddVm();
        PageId[] mine = gmm.Allocate(vm, 4);
        PageId theirs = gmm.Allocate(other, 1)[0];
        PageId shadow = gmm.Allocate(vm, 1, GmmAccount.Shadow)[0];

        GmmAssert.FailsUnchanged(gmm, GmmError.NotPageOwner, () => gmm.BalloonedPages(vm, 5, [mine[0], theirs], completed: false), mine[0], theirs);
        GmmAssert.FailsUnchanged(gmm, GmmError.NotPageOwner, () => gmm.BalloonedPages(vm, 5, [mine[0], shadow], completed: false), mine[0], shadow);
        GmmAssert.FailsUnchanged(gmm, GmmError.PageAlreadyFree, () => gmm.BalloonedPages(vm, 5, [mine[0], mine[0]], completed: false), mine[0]);
    }

    [Fact]
    public void More_pages_to_free_than_ballooned_or_a_negative_count_is_an_invalid_argument()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm();
        PageId[] pages = gmm.Allocate(vm, 4);

        GmmAssert.FailsUnchanged(gmm, GmmError.InvalidArgument, () => gmm.BalloonedPages(vm, 3, pages, completed: false), pages);
        GmmAssert.FailsUnchanged(gmm, GmmError.InvalidArgument, () => gmm.BalloonedPages(vm, -1, [], completed: false));
    }

    [Fact]
    public void Deflating_gives_pages_back_to_the_account_but_never_more_than_ballooned()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm(basePages: 100);
        gmm.BalloonedPages(vm, 40, [], completed: true);

        gmm.DeflatedBalloon(vm, 15);

        Assert.Equal(25, gmm.GetVmStatistics(vm).BalloonedPages);
        Assert.Equal(25, gmm.GetStatistics().BalloonedPages);
        GmmAssert.FailsUnchanged(gmm, GmmError.AttemptToDeflateTooMuch, () => gmm.DeflatedBalloon(vm, 26));
        GmmAssert.FailsUnchanged(gmm, GmmError.InvalidArgument, () => gmm.DeflatedBalloon(vm, -1));
        gmm.Allocate(vm, 75);
        gmm.Verify();
    }

    [Fact]
    public void Reset_empties_the_balloon_and_forgets_the_requests()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm(basePages: 100), other = gmm.AddVm(basePages: 100);
        gmm.BalloonedPages(vm, 40, [], completed: true);
        gmm.BalloonedPages(other, 5, [], completed: true);
        gmm.RequestBalloon(vm, 60);

        gmm.ResetBalloon(vm);

        GmmVmStatistics s = gmm.GetVmStatistics(vm);
        Assert.Equal((0L, 0L, 0L, 0L), (s.BalloonedPages, s.RequestedBalloonPages, s.ActuallyBalloonedPages, s.RequestedDeflatePages));
        Assert.Equal(5, gmm.GetStatistics().BalloonedPages);
        gmm.Verify();
    }

    [Fact]
    public void An_inflate_request_counts_progress_and_ends_when_reached_or_completed()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm(basePages: 100);

        gmm.RequestBalloon(vm, 30);
        Assert.Equal(30, gmm.GetVmStatistics(vm).RequestedBalloonPages);
        gmm.BalloonedPages(vm, 10, [], completed: false);
        Assert.Equal((30L, 10L), (gmm.GetVmStatistics(vm).RequestedBalloonPages, gmm.GetVmStatistics(vm).ActuallyBalloonedPages));
        gmm.BalloonedPages(vm, 20, [], completed: false);
        Assert.Equal((0L, 0L), (gmm.GetVmStatistics(vm).RequestedBalloonPages, gmm.GetVmStatistics(vm).ActuallyBalloonedPages));

        gmm.RequestBalloon(vm, 50);
        gmm.BalloonedPages(vm, 5, [], completed: true);
        Assert.Equal((0L, 0L), (gmm.GetVmStatistics(vm).RequestedBalloonPages, gmm.GetVmStatistics(vm).ActuallyBalloonedPages));
        Assert.Equal(35, gmm.GetVmStatistics(vm).BalloonedPages);
        gmm.Verify();
    }

    [Fact]
    public void A_deflate_request_counts_down_as_the_guest_deflates()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm(basePages: 100);
        gmm.BalloonedPages(vm, 40, [], completed: true);

        gmm.RequestBalloon(vm, 10);
        Assert.Equal((0L, 30L), (gmm.GetVmStatistics(vm).RequestedBalloonPages, gmm.GetVmStatistics(vm).RequestedDeflatePages));
        gmm.DeflatedBalloon(vm, 20);
        Assert.Equal(10, gmm.GetVmStatistics(vm).RequestedDeflatePages);
        gmm.DeflatedBalloon(vm, 20);
        Assert.Equal(0, gmm.GetVmStatistics(vm).RequestedDeflatePages);
        gmm.Verify();
    }

    [Fact]
    public void A_balloon_target_outside_the_base_reservation_is_an_invalid_argument()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm(basePages: 100);

        GmmAssert.FailsUnchanged(gmm, GmmError.InvalidArgument, () => gmm.RequestBalloon(vm, 101));
        GmmAssert.FailsUnchanged(gmm, GmmError.InvalidArgument, () => gmm.RequestBalloon(vm, -1));
    }
}
