using System.Diagnostics;
using GuestMemory.Balloon;
using GuestMemory.Qemu;

namespace GuestMemory.Qemu.Tests.Support;

/// <summary>
/// Real guests under a <see cref="QemuOvercommit"/> for one test: started together (balloon device with
/// free page reporting and deflate-on-oom), ended by pid when the test ends, also after a failure.
/// </summary>
internal sealed class OvercommitRig : IAsyncDisposable
{
    private readonly List<QemuGuest> _guests = [];

    private OvercommitRig(QemuOvercommit overcommit) => Overcommit = overcommit;

    public QemuOvercommit Overcommit { get; }
    public GuestBalloonController Controller => Overcommit.Controller;

    /// <summary>Boots <paramref name="guests"/> (name, RAM, options changed by the caller) in parallel; the controller is not started.</summary>
    public static async Task<OvercommitRig> StartAsync(long budgetBytes, params (string Name, long RamBytes, Func<GuestOptions, GuestOptions>? Change)[] guests)
    {
        var rig = new OvercommitRig(new QemuOvercommit(new BalloonControllerOptions { HostBudgetBytes = budgetBytes }));
        Task<QemuGuest>[] starting = guests.Select(g =>
        {
            GuestOptions options = RealGuestFixture.Options(g.Name, g.RamBytes) with { Balloon = new BalloonDevice(FreePageReporting: true, DeflateOnOom: true) };
            return QemuGuest.StartAsync(g.Change?.Invoke(options) ?? options);
        }).ToArray();
        try
        {
            await Task.WhenAll(starting);
        }
        finally
        {
            foreach (Task<QemuGuest> t in starting)
                if (t.IsCompletedSuccessfully) rig._guests.Add(t.Result);
            if (rig._guests.Count != starting.Length) await rig.DisposeAsync();
        }
        return rig;
    }

    public QemuGuest this[int i] => _guests[i];

    public async ValueTask DisposeAsync()
    {
        await Overcommit.DisposeAsync();
        foreach (QemuGuest g in _guests) await g.DisposeAsync();
    }

    /// <summary>Waits (polling) until <paramref name="condition"/> holds; fails after <paramref name="seconds"/> with <paramref name="what"/>.</summary>
    public static async Task Until(Func<bool> condition, int seconds, Func<string> what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(seconds)) Assert.Fail($"not within {seconds} s: {what()}");
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }

    /// <summary>One line per guest for failure messages.</summary>
    public string Describe() => string.Join("; ", Overcommit.Guests.Select(g =>
        $"{g.Name} target {Controller.GetTarget(g)} ballooned {g.QemuDriver.Status.BalloonedPages} available {g.QemuDriver.AvailableBytes >> 20} MiB resident {g.ResidentBytes >> 20} MiB state {g.QemuDriver.State}"))
        + $"; decision {Controller.LastDecision}";
}
