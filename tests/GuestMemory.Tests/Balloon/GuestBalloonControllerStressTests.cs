using System.Diagnostics;
using GuestMemory.Balloon;
using GuestMemory.Gmm;
using GuestMemory.Host;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Balloon;

/// <summary>
/// The guest balloon controller under concurrency: its own loop stepping, guests' drivers reporting from
/// threads of their own as their balloons move, an operator setting targets, a guest added and removed
/// over and over, readers of its figures. Under a watchdog; afterwards every target is inside its limits,
/// the last target each driver received is the controller's, and no lock was taken out of order.
/// </summary>
public sealed class GuestBalloonControllerStressTests
{
    private const long Mib = 256;

    /// <summary>A guest whose balloon moves a batch at a time towards its target on its own thread, as a real one does.</summary>
    private sealed class MovingGuest(string name, long ramMib) : IBalloonGuest, IBalloonDriver
    {
        private readonly Lock _lock = new();
        private long _target, _ballooned, _lastPosted = -1;
        public string Name => name;
        public long RamPages => ramMib * Mib;
        public long MinimumTargetPages => 0;
        public long MaximumTargetPages => RamPages - 32 * Mib;
        public int Weight => 1;
        public VmPriority Priority => VmPriority.Normal;
        public long ResidentPages { get { lock (_lock) return RamPages - _ballooned; } }
        public IBalloonDriver? Driver => this;
        public long LastPosted { get { lock (_lock) return _lastPosted; } }

        public void SetTarget(long pages)
        {
            lock (_lock) _target = _lastPosted = pages;
        }

        public BalloonDriverStatus Status
        {
            get { lock (_lock) return new BalloonDriverStatus(_ballooned, RamPages - _ballooned - 16 * Mib, 16 * Mib, 20 * Mib); }
        }

        public event Action? StatusChanged;

        /// <summary>One move of the guest's balloon towards its target (at most 1 MiB), reported.</summary>
        public void Move()
        {
            lock (_lock)
            {
                if (_ballooned == _target) return;
                _ballooned += Math.Clamp(_target - _ballooned, -Mib, Mib);
            }
            StatusChanged?.Invoke();
        }
    }

    [Fact]
    public void Steps_reports_operators_and_churn_at_once_leave_consistent_targets()
    {
        int violationsBefore = LockOrderGuard.UnintendedCount();
        MovingGuest[] guests = [.. Enumerable.Range(0, 4).Select(i => new MovingGuest($"g{i}", 128))];
        long budget = 300L << 20;
        using var controller = new GuestBalloonController(new BalloonControllerOptions
        {
            HostBudgetBytes = budget, Period = TimeSpan.FromMilliseconds(1), ReserveBytes = 0,
            ReadRssBytes = () => guests.Sum(g => g.ResidentPages) << Paging.PageShift,
        });
        foreach (MovingGuest g in guests) controller.Add(g);
        controller.Start();
        var settled = 0;
        controller.Settled += (_, _) => Interlocked.Increment(ref settled);
        var clock = Stopwatch.StartNew();
        bool Running() => clock.Elapsed < TimeSpan.FromSeconds(2);

        Action Pump(MovingGuest g) => () => { while (Running()) { g.Move(); Thread.Yield(); } };
        Watchdog.Run(TimeSpan.FromSeconds(60),
            Pump(guests[0]), Pump(guests[1]), Pump(guests[2]), Pump(guests[3]),
            () =>
            {
                var random = new Random(7);
                while (Running())
                {
                    MovingGuest g = guests[random.Next(guests.Length)];
                    controller.SetTarget(g, random.NextInt64(g.MinimumTargetPages, g.MaximumTargetPages + 1));
                    Assert.InRange(controller.GetTarget(g), g.MinimumTargetPages, g.MaximumTargetPages);
                    controller.IsSettled(g);
                }
            },
            () =>
            {
                for (int i = 0; Running(); i++)
                {
                    var churn = new MovingGuest($"churn{i}", 64);
                    controller.Add(churn);
                    churn.Move();
                    Assert.True(controller.Remove(churn));
                    Assert.Equal(GmmError.VmNotFound, Assert.Throws<GmmException>(() => controller.GetTarget(churn)).Error);
                }
            },
            () =>
            {
                while (Running())
                {
                    _ = controller.Counters;
                    _ = controller.LastDecision;
                    Assert.Equal(4, controller.Guests.Count(g => g is MovingGuest { Name: ['g', _] }));
                    controller.Step();
                }
            });

        controller.Stop();
        controller.Step();
        foreach (MovingGuest g in guests)
        {
            long target = controller.GetTarget(g);
            Assert.InRange(target, g.MinimumTargetPages, g.MaximumTargetPages);
            Assert.Equal(target, g.LastPosted); // targets reached the driver in the order they were set
        }
        Assert.Equal(guests.Length, controller.Guests.Count);
        Assert.True(controller.Counters.Steps > 0);
        Assert.True(settled > 0);
        Assert.Equal(violationsBefore, LockOrderGuard.UnintendedCount());
    }
}
