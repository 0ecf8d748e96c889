using GuestMemory.Qemu;
using GuestMemory.Qemu.Tests.Support;

namespace GuestMemory.Qemu.Tests.Balloon;

/// <summary>Real guests: a guest whose workload grows gets the memory an idle guest gives up.</summary>
public sealed class GrowingGuestTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact(Timeout = 240_000)]
    public async Task A_guest_that_grows_gets_memory_from_an_idle_one()
    {
        const long ram = 192L << 20, budget = 288L << 20;
        await using OvercommitRig rig = await OvercommitRig.StartAsync(budget, ("grow-a", ram, null), ("idle-b", ram, null));
        QemuBalloonGuest grower = await rig.Overcommit.AddAsync(rig[0], cancel: Cancel);
        QemuBalloonGuest idle = await rig.Overcommit.AddAsync(rig[1], cancel: Cancel);
        rig.Overcommit.Start();
        await OvercommitRig.Until(() => grower.QemuDriver.State == QemuBalloonState.Working && idle.QemuDriver.State == QemuBalloonState.Working, 60, rig.Describe);

        // the grower's workload: 80 MiB of tmpfs, 16 MiB at a time (with the ~70 MiB its kernel uses, near all its RAM)
        GuestShell shell = rig[0].RequireShell();
        for (int i = 0; i < 5; i++) await shell.FillAsync($"grow{i}", 16, FillKind.Byte, "7", TimeSpan.FromSeconds(90), Cancel);
        await OvercommitRig.Until(() => rig.Controller.GetTarget(idle) > rig.Controller.GetTarget(grower) && idle.QemuDriver.Status.BalloonedPages > 0, 60, rig.Describe);

        // The idle tax may take a little from the grower too (whatever it holds beyond its workload, as
        // ESX does), but the idle guest, with more idle memory, gives more.
        Assert.True(rig.Controller.GetTarget(idle) > rig.Controller.GetTarget(grower), rig.Describe());
        Assert.True(GuestConsole.OomKills(rig[0]) == 0, rig[0].LastWords() + rig.Describe());
        Assert.True(GuestConsole.OomKills(rig[1]) == 0, rig[1].LastWords());
        Assert.True(rig.Controller.Counters.PagesReclaimed > 0, rig.Describe());
        await OvercommitRig.Until(() => rig.Overcommit.ResidentBytes() <= budget, 60, rig.Describe);
    }
}
