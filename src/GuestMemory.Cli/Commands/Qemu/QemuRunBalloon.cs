using GuestMemory.Balloon;
using GuestMemory.Qemu;
using Microsoft.Extensions.Logging;

namespace GuestMemory.Cli.Commands.Qemu;

/// <summary>One guest's balloon in a sample of <c>gmm qemu run --budget-mib</c>: bytes, and the driver's state.</summary>
internal sealed record QemuBalloonRow(string Name, long RamBytes, long TargetBytes, long ActualBytes, long? IdleBytes, QemuBalloonState State);

/// <summary>The controller's side of a sample: the guests' resident RAM against the budget, and each balloon.</summary>
internal sealed record QemuBalloonSample(double Seconds, long BudgetBytes, long PromisedBytes, long ResidentBytes, long QemuRssBytes, IReadOnlyList<QemuBalloonRow> Rows);

/// <summary>
/// The balloon controller of <c>gmm qemu run --budget-mib B</c>: a <see cref="QemuOvercommit"/> over the
/// run's guests, sampled once a refresh for the live table and the report (<see cref="QemuRunReport"/>).
/// </summary>
/// <remarks>Samples are taken and read on the command's one watching loop; <c>_samples</c> is guarded by its own lock for the report at the end.</remarks>
internal sealed class QemuRunBalloon(QemuOvercommit overcommit, long budgetBytes, IReadOnlyList<QemuGuest> guests) : IAsyncDisposable
{
    private readonly Lock _lock = new();
    private readonly List<QemuBalloonSample> _samples = [];

    /// <summary>Every sample taken, oldest first.</summary>
    public IReadOnlyList<QemuBalloonSample> Samples { get { lock (_lock) return _samples.ToArray(); } }

    /// <summary>The controller's counters (for the summary line).</summary>
    public BalloonControllerCounters Counters => overcommit.Controller.Counters;

    /// <summary>Starts a driver per guest and the controller; a guest without a balloon driver is reported in the table and left alone.</summary>
    public static async Task<QemuRunBalloon> StartAsync(IReadOnlyList<QemuGuest> guests, long budgetBytes, ILoggerFactory logging, CancellationToken cancel)
    {
        var overcommit = new QemuOvercommit(new BalloonControllerOptions { HostBudgetBytes = budgetBytes }, logging);
        try
        {
            foreach (QemuGuest g in guests) await overcommit.AddAsync(g, cancel: cancel);
        }
        catch
        {
            await overcommit.DisposeAsync();
            throw;
        }
        overcommit.Start();
        return new QemuRunBalloon(overcommit, budgetBytes, guests);
    }

    /// <summary>Reads every balloon and the resident RAM now, and keeps the sample for the report.</summary>
    public QemuBalloonSample Sample(double seconds)
    {
        QemuBalloonGuest[] steered = overcommit.Guests.ToArray();
        var rows = guests.Select(g =>
        {
            QemuBalloonGuest? s = steered.FirstOrDefault(x => x.Qemu == g);
            if (s == null) return new QemuBalloonRow(g.Name, g.Options.RamBytes, 0, 0, null, QemuBalloonState.Failed);
            long target = g.Options.RamBytes - (overcommit.Controller.GetTargetOrZero(s) << Paging.PageShift);
            BalloonDriverStatus status = s.QemuDriver.Status;
            return new QemuBalloonRow(g.Name, g.Options.RamBytes, target, g.Options.RamBytes - (status.BalloonedPages << Paging.PageShift), s.QemuDriver.AvailableBytes, s.QemuDriver.State);
        }).ToArray();
        var sample = new QemuBalloonSample(seconds, budgetBytes, guests.Sum(g => g.Options.RamBytes), overcommit.ResidentBytes(),
            guests.Sum(g => g.QemuRssBytes ?? 0), rows);
        lock (_lock) _samples.Add(sample);
        return sample;
    }

    public ValueTask DisposeAsync() => overcommit.DisposeAsync();
}

/// <summary>Reading a target without racing a guest's removal.</summary>
internal static class GuestBalloonControllerExtensions
{
    /// <summary>The guest's target, or 0 when it has just been taken out (its QEMU ended).</summary>
    public static long GetTargetOrZero(this GuestBalloonController controller, IBalloonGuest guest)
    {
        try
        {
            return controller.GetTarget(guest);
        }
        catch (GmmException e) when (e.Error == GmmError.VmNotFound)
        {
            return 0;
        }
    }
}
