using GuestMemory.Balloon;
using GuestMemory.Gmm;
using GuestMemory.Tests.Balloon.Support;

namespace GuestMemory.Tests.Balloon;

/// <summary>
/// The controller for guests outside the Gmm (real QEMU guests in GuestMemory.Qemu), step by step against
/// guests whose figures the test sets: who gives, the limits, guests without a driver, settling, and its
/// refusals, which leave everything as it was.
/// </summary>
public sealed class GuestBalloonControllerTests : IDisposable
{
    private const long Mib = 256; // pages
    private long _resident;
    private readonly GuestBalloonController _controller;

    public GuestBalloonControllerTests() =>
        _controller = new GuestBalloonController(new BalloonControllerOptions { HostBudgetBytes = 400L << 20, ReserveBytes = 0, HysteresisBytes = 4L << 20, ReadRssBytes = () => _resident });

    public void Dispose() => _controller.Dispose();

    private sealed class Guest(string name, long ramMib, long minimumMib = 16, VmPriority priority = VmPriority.Normal) : IBalloonGuest
    {
        public string Name => name;
        public long RamPages => ramMib * Mib;
        public long MinimumTargetPages => 0;
        public long MaximumTargetPages => (ramMib - minimumMib) * Mib;
        public int Weight => 1;
        public VmPriority Priority => priority;
        public long ResidentPages { get; set; }
        public FakeBalloonDriver Fake { get; } = new();
        public bool HasDriver { get; set; } = true;
        public IBalloonDriver? Driver => HasDriver ? Fake : null;

        /// <summary>The guest uses <paramref name="usedMib"/>, has the rest of its visible RAM idle, and all of it resident.</summary>
        public void Report(long usedMib, long balloonedPages = 0)
        {
            long used = usedMib * Mib, visible = RamPages - balloonedPages;
            ResidentPages = visible;
            Fake.Status = new BalloonDriverStatus(balloonedPages, visible - used, used, used);
        }
    }

    private void Add(params Guest[] guests)
    {
        foreach (Guest g in guests) _controller.Add(g);
        _resident = guests.Sum(g => g.ResidentPages) << 12;
    }

    [Fact]
    public void Over_budget_the_idle_guest_gives_and_the_busy_one_keeps_its_memory()
    {
        Guest busy = new("busy", 256), idle = new("idle", 256);
        busy.Report(usedMib: 200);
        idle.Report(usedMib: 40);
        Add(busy, idle); // 512 MiB resident against 400: the idle guest alone can give it

        BalloonDecision d = _controller.Step();

        Assert.True(d.DeficitPages > 0);
        Assert.Equal(0, _controller.GetTarget(busy));
        Assert.True(_controller.GetTarget(idle) > 0);
        Assert.Equal(_controller.GetTarget(idle), idle.Fake.Targets[^1]);
        Assert.Contains(d.GuestChanges, c => c.Guest == idle && c.Reason.HasFlag(BalloonChangeReason.Reclaimed));
        Assert.Empty(d.Changes);
        Assert.Equal(1, _controller.Counters.InflateRequests);
    }

    [Fact]
    public void A_guest_at_its_minimum_is_not_squeezed_and_the_shortfall_is_counted()
    {
        Guest g = new("small", 256, minimumMib: 224);
        g.Report(usedMib: 8);
        Add(g);
        _resident = 1L << 30; // far over

        for (int i = 0; i < 5; i++) _controller.Step();

        Assert.Equal(g.MaximumTargetPages, _controller.GetTarget(g));
        Assert.True(_controller.Counters.ShortfallSteps > 0);
        Assert.Equal(GmmError.BalloonTargetOutOfRange, Assert.Throws<GmmException>(() => _controller.SetTarget(g, g.MaximumTargetPages + 1)).Error);
        Assert.Equal(g.MaximumTargetPages, _controller.GetTarget(g));
    }

    [Fact]
    public void A_guest_without_a_driver_is_left_alone_and_the_others_give_for_it()
    {
        Guest none = new("none", 256) { HasDriver = false }, other = new("other", 256);
        none.ResidentPages = 200 * Mib;
        other.Report(usedMib: 40);
        Add(none, other);

        _controller.Step();

        Assert.Equal(0, _controller.GetTarget(none));
        Assert.Empty(none.Fake.Targets);
        Assert.True(_controller.LastDecision!.ExposurePages >= 56 * Mib); // its RAM without a host page counts as exposure
        Assert.True(_controller.GetTarget(other) > 0);

        none.HasDriver = true; // its driver came: it gets its target posted
        none.Report(usedMib: 200);
        _controller.Step();
        Assert.Equal([0], none.Fake.Targets);
    }

    [Fact]
    public void Reaching_a_target_is_reported_once_with_the_wait()
    {
        Guest g = new("g", 256);
        g.Report(usedMib: 16);
        Add(g);
        var settled = new List<TimeSpan>();
        _controller.Settled += (guest, waited) => settled.Add(waited);
        _controller.SetTarget(g, 64 * Mib);
        Assert.False(_controller.IsSettled(g));

        g.Report(usedMib: 16, balloonedPages: 32 * Mib);
        Assert.Empty(settled);
        g.Report(usedMib: 16, balloonedPages: 64 * Mib);
        g.Report(usedMib: 15, balloonedPages: 64 * Mib);

        Assert.Single(settled);
        Assert.True(_controller.IsSettled(g));
    }

    [Fact]
    public void The_wait_is_counted_from_the_target_the_balloon_reached_not_one_it_replaced()
    {
        Guest g = new("g", 256);
        g.Report(usedMib: 16);
        Add(g);
        TimeSpan? waited = null;
        _controller.Settled += (_, w) => waited = w;
        _controller.SetTarget(g, 64 * Mib);
        g.Report(usedMib: 16, balloonedPages: 32 * Mib);
        Thread.Sleep(200); // the first target is older than this
        var sinceSecond = System.Diagnostics.Stopwatch.StartNew();
        _controller.SetTarget(g, 48 * Mib);
        g.Report(usedMib: 16, balloonedPages: 48 * Mib);
        TimeSpan bound = sinceSecond.Elapsed;

        Assert.NotNull(waited);
        Assert.True(waited <= bound, $"{waited} is older than the second target ({bound})");
    }

    [Fact]
    public void Bad_guests_and_targets_are_refused_and_nothing_changes()
    {
        Guest g = new("g", 256), twin = new("g", 128), inverted = new("bad", 64, minimumMib: 80);
        _controller.Add(g);
        Assert.Equal(GmmError.InvalidArgument, Assert.Throws<GmmException>(() => _controller.Add(twin)).Error);
        Assert.Equal(GmmError.InvalidArgument, Assert.Throws<GmmException>(() => _controller.Add(inverted)).Error);
        Assert.Equal(GmmError.VmNotFound, Assert.Throws<GmmException>(() => _controller.GetTarget(twin)).Error);
        Assert.Equal(GmmError.BalloonTargetOutOfRange, Assert.Throws<GmmException>(() => _controller.SetTarget(g, -1)).Error);
        Assert.Equal([g], _controller.Guests);
        Assert.Equal(0, _controller.GetTarget(g));
        Assert.True(_controller.Remove(g));
        Assert.False(_controller.Remove(g));
    }
}
