using GuestMemory.Qemu;
using GuestMemory.Qemu.Tests.Support;

namespace GuestMemory.Qemu.Tests.Balloon;

/// <summary>Real guests: a guest at its minimum is not squeezed further, however short the host is.</summary>
public sealed class GuestMinimumTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact(Timeout = 180_000)]
    public async Task A_guest_at_its_minimum_is_not_squeezed_further()
    {
        const long ram = 160L << 20, minimum = 128L << 20;
        await using OvercommitRig rig = await OvercommitRig.StartAsync(32L << 20, ("minimum", ram, null));
        QemuBalloonGuest guest = await rig.Overcommit.AddAsync(rig[0], new QemuBalloonPolicy { MinimumRamBytes = minimum }, Cancel);
        long maximumBalloon = (ram - minimum) >> 12;
        Assert.Equal(maximumBalloon, guest.MaximumTargetPages);
        rig.Overcommit.Start();

        await OvercommitRig.Until(() => guest.QemuDriver.Status.BalloonedPages == maximumBalloon, 60, rig.Describe);
        for (int i = 0; i < 20; i++) rig.Controller.Step(); // the host stays far over its budget
        Assert.Equal(maximumBalloon, rig.Controller.GetTarget(guest));
        Assert.Equal(maximumBalloon, guest.QemuDriver.Status.BalloonedPages);
        Assert.True(rig.Controller.Counters.ShortfallSteps > 0, rig.Describe());
        Assert.True(rig.Controller.LastDecision!.ShortfallPages > 0);

        GmmException refused = Assert.Throws<GmmException>(() => rig.Controller.SetTarget(guest, maximumBalloon + 1));
        Assert.Equal(GmmError.BalloonTargetOutOfRange, refused.Error);
        Assert.Equal(maximumBalloon, rig.Controller.GetTarget(guest));
        Assert.Equal(160L << 20, await rig[0].Qmp.QueryBalloonAsync(Cancel) + (maximumBalloon << 12));
    }
}
