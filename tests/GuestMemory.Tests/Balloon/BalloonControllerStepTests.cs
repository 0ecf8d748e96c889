using GuestMemory.Balloon;
using GuestMemory.Simulation;
using GuestMemory.Gmm;
using GuestMemory.Tests.Balloon.Support;
using Microsoft.Extensions.Logging;

namespace GuestMemory.Tests.Balloon;

/// <summary>
/// The controller's decisions, step by step, against a made-up host (the RSS the test chooses) and real
/// VMs with simulated guests: what it asks, of whom, what it counts and logs.
/// </summary>
public sealed class BalloonControllerStepTests : IDisposable
{
    private const long Budget = 1L << 30;
    private readonly RecordingLoggerFactory _logs = new();
    private readonly BalloonHost _host;
    private readonly FakeRss _rss = new(Budget, reserveBytes: 0, vmsWithDrivers: 2);
    private readonly VirtualMachine _low, _high;
    private readonly SimulatedGuest _lowGuest, _highGuest;
    private readonly BalloonController _controller;

    public BalloonControllerStepTests()
    {
        _host = new BalloonHost(hostMib: 64, logs: _logs);
        _low = _host.Vm("low", ramMib: 8, priority: VmPriority.Low);          // 2048 pages each
        _high = _host.Vm("high", ramMib: 8, priority: VmPriority.High, minimumMib: 6);
        _lowGuest = new SimulatedGuest(_low) { WorkingSetPages = 600 };
        _highGuest = new SimulatedGuest(_high) { WorkingSetPages = 600 };
        RunGuests();
        _controller = new BalloonController(_host.Manager, _rss.Options(TimeSpan.FromMinutes(1)));
    }

    [Fact]
    public void Under_pressure_it_asks_the_vm_with_the_least_claim_and_counts_and_logs_the_decision()
    {
        _rss.HeadroomPages = 2 * 1448 - 1000; // the guests may write 2 x 1448 zero pages: 1000 too many

        BalloonDecision decision = _controller.Step();

        BalloonTargetChange change = Assert.Single(decision.Changes);
        Assert.Equal((_low, 0L, 1000L, BalloonChangeReason.Reclaimed), (change.Vm, change.OldTargetPages, change.NewTargetPages, change.Reason));
        Assert.Equal(1000, decision.DeficitPages);
        Assert.Equal(1000, _low.Balloon.TargetPages);
        Assert.Equal(1000, _low.Accounts.RequestedBalloonPages);
        Assert.Equal(new BalloonControllerCounters { Steps = 1, Decisions = 1, InflateRequests = 1, PagesRequested = 1000 }, _controller.Counters);
        Assert.Contains(_logs.Lines, l => l.Level == LogLevel.Information && l.Message.Contains("low 0->1000 (Reclaimed)"));

        RunGuests();
        BalloonDecision next = _controller.Step();

        Assert.Empty(next.Changes);
        Assert.Equal(0, next.DeficitPages);
        Assert.Equal(1000, _controller.Counters.PagesReclaimed);
        Assert.Equal(1, _controller.Counters.Decisions);
        Assert.True(_low.Balloon.IsSettled);
    }

    [Fact]
    public void It_never_takes_a_vm_below_its_minimum()
    {
        _rss.HeadroomPages = 0;

        _controller.Step();
        RunGuests();
        _controller.Step();

        Assert.Equal(512, _high.Balloon.TargetPages); // 8 MiB of RAM, at least 6 MiB usable
        Assert.Equal(1448, _low.Balloon.TargetPages);
        Assert.Equal(936, _controller.LastDecision!.ShortfallPages); // the high VM's other free pages are its own
    }

    [Fact]
    public void When_pressure_ends_memory_goes_back_and_then_the_targets_hold()
    {
        _rss.HeadroomPages = 0;
        _controller.Step();
        RunGuests();

        _rss.HeadroomPages = 10_000;
        BalloonDecision release = _controller.Step();
        RunGuests();

        Assert.Contains(release.Changes, c => c.Reason == BalloonChangeReason.Released && c.NewTargetPages < c.OldTargetPages);
        Assert.Equal(0, _low.Balloon.TargetPages);
        Assert.Equal(0, _high.Balloon.TargetPages);
        Assert.True(_controller.Counters.DeflateRequests >= 1);
        Assert.Empty(_controller.Step().Changes);
    }

    [Fact]
    public void A_shortfall_is_counted_every_step_and_warned_about_once()
    {
        _lowGuest.WorkingSetPages = 2048;
        _highGuest.WorkingSetPages = 1536;
        RunGuests();
        _rss.HeadroomPages = -1000;

        BalloonDecision first = _controller.Step();
        _controller.Step();

        Assert.Equal(1000, first.ShortfallPages);
        Assert.Equal(2, _controller.Counters.ShortfallSteps);
        Assert.Single(_logs.Lines, l => l.Level == LogLevel.Warning && l.Category.EndsWith(nameof(BalloonController)));
    }

    [Fact]
    public void A_guest_that_asks_for_pages_wakes_the_controller_before_its_period()
    {
        _rss.HeadroomPages = 2 * 1448 - 1000;
        _controller.Step();
        RunGuests();
        _controller.Start(); // steps once now, then every minute
        WaitUntil(() => _controller.Counters.Steps >= 2);

        _lowGuest.WorkingSetPages = 1400; // 1048 free pages left after the balloon took 1000: wants 352
        RunGuests();

        WaitUntil(() => _low.Balloon.TargetPages <= 1000 - 352); // it got what it asked for (and maybe more, once nobody asks)
        _controller.Stop();
        Assert.Contains(_logs.Lines, l => l.Message.Contains("low 1000->") && l.Message.Contains("(Granted)"));
    }

    [Fact]
    public void A_guest_that_asks_gets_pages_the_host_can_back()
    {
        _rss.HeadroomPages = 2 * 1448 - 1000;
        _controller.Step();
        RunGuests();
        _lowGuest.WorkingSetPages = 1400;
        RunGuests();

        _rss.HeadroomPages = 1448 + 400; // the high guest may still write 1448 zero pages; 400 more can be backed
        BalloonDecision decision = _controller.Step();
        RunGuests();

        Assert.Contains(decision.Changes, c => c.Vm == _low && c.Reason.HasFlag(BalloonChangeReason.Granted));
        Assert.Equal(352, decision.GrantedPages);
        Assert.Equal(1400, _lowGuest.Status.UsedPages);
        Assert.Equal(0, _lowGuest.Status.WantedPages);
        Assert.Empty(_lowGuest.VerifyContent());
        _host.Manager.Verify();
    }

    [Fact]
    public void A_vm_destroyed_between_steps_is_simply_gone()
    {
        _rss.HeadroomPages = 0;
        _controller.Step();
        _highGuest.Dispose();
        _high.Dispose();

        BalloonDecision decision = _controller.Step();

        Assert.DoesNotContain(decision.Changes, c => c.Vm == _high);
        Assert.Equal(2, _controller.Counters.Steps);
    }

    private void RunGuests()
    {
        for (int round = 0; round < 3; round++)
        {
            _lowGuest.RunUntilIdle();
            _highGuest.RunUntilIdle();
        }
    }

    private static void WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the controller did not act before the deadline");
            Thread.Sleep(5);
        }
    }

    public void Dispose()
    {
        _controller.Dispose();
        _lowGuest.Dispose();
        _highGuest.Dispose();
        _host.Dispose();
    }
}
