using GuestMemory.Simulation;
using GuestMemory.Phys;
using GuestMemory.Tests.Balloon.Support;
using static GuestMemory.Tests.Balloon.Support.BalloonHost;

namespace GuestMemory.Tests.Balloon;

/// <summary>
/// When even ballooning cannot free enough, a guest's write fails with the global-limit error: typed,
/// nothing written, nothing corrupted, and the guest carries on.
/// </summary>
public sealed class GlobalLimitWriteTests
{
    private const long HostPages = 8 * PagesPerMib;

    [Fact]
    public void A_write_the_host_cannot_back_fails_with_the_global_limit_and_writes_nothing()
    {
        using var host = new BalloonHost(hostMib: 8);
        VirtualMachine a = host.Vm("a", ramMib: 8);
        VirtualMachine b = host.Vm("b", ramMib: 8);
        Fill(a, 0, 1500, seed: 1);
        long written = FillUntilRefused(b, seed: 2, out GmmException refused);

        Assert.Equal(GmmError.HitGlobalLimit, refused.Error);
        Assert.True(written > 0 && 1500 + written <= HostPages);
        Assert.Equal(GuestPageState.Zero, PageState(b, written));
        Assert.True(IsZero(b, written, 1), "the refused page reads zero");
        Assert.True(Holds(b, 0, written, seed: 2));
        Assert.True(Holds(a, 0, 1500, seed: 1));
        host.Manager.Verify();

        // A write over a written page and a page that needs a host page is refused as a whole.
        string before = host.Snapshot();
        var both = new byte[2 * Paging.PageSize];
        both.AsSpan().Fill(0xEE);
        var e = Assert.Throws<GmmException>(() => b.Memory.Write(Address(written - 1), both));
        Assert.Equal(GmmError.HitGlobalLimit, e.Error);
        Assert.Equal(before, host.Snapshot());
        Assert.True(Holds(b, 0, written, seed: 2));
    }

    [Fact]
    public void Ballooning_idle_memory_lets_the_write_through()
    {
        using var host = new BalloonHost(hostMib: 8);
        VirtualMachine a = host.Vm("a", ramMib: 8);
        VirtualMachine b = host.Vm("b", ramMib: 8);
        using var guestA = new SimulatedGuest(a) { WorkingSetPages = 1500 };
        guestA.RunUntilIdle();
        guestA.WorkingSetPages = 500; // 1000 pages idle, still backed by host memory
        guestA.RunUntilIdle();
        long written = FillUntilRefused(b, seed: 3, out _);

        a.Balloon.SetTarget(1000);
        guestA.RunUntilIdle();
        Fill(b, written, 500, seed: 3);

        Assert.True(Holds(b, 0, written + 500, seed: 3));
        Assert.Empty(guestA.VerifyContent());
        host.Manager.Verify();
    }

    [Fact]
    public void When_every_guest_uses_its_memory_the_growing_guest_is_refused_and_carries_on()
    {
        using var host = new BalloonHost(hostMib: 8);
        VirtualMachine a = host.Vm("a", ramMib: 8);
        VirtualMachine b = host.Vm("b", ramMib: 8);
        using var guestA = new SimulatedGuest(a, new SimulatedGuestOptions { Seed = 1 }) { WorkingSetPages = 1500 };
        using var guestB = new SimulatedGuest(b, new SimulatedGuestOptions { Seed = 2 }) { WorkingSetPages = 1500 };
        guestA.RunUntilIdle();
        a.Balloon.SetTarget(2048); // a balloons only its free pages, which have no host pages to give back
        guestA.RunUntilIdle();

        for (int tick = 0; tick < 50; tick++) guestB.RunOnce();

        SimulatedGuestCounters counters = guestB.Counters;
        Assert.True(counters.AllocationFailures > 0, "the guest saw its writes refused");
        Assert.InRange(guestB.Status.UsedPages, 1, 1499);
        Assert.Null(guestB.Fault);
        Assert.Equal(0, counters.ContentErrors);
        Assert.Equal(548, guestA.Status.BalloonedPages);
        Assert.Empty(guestA.VerifyContent());
        Assert.Empty(guestB.VerifyContent());
        host.Manager.Verify();
    }

    /// <summary>Fills pages of <paramref name="vm"/> from frame 0 until a write is refused; returns how many went in.</summary>
    private static long FillUntilRefused(VirtualMachine vm, byte seed, out GmmException refused)
    {
        for (long frame = 0; ; frame++)
        {
            try
            {
                Fill(vm, frame, 1, seed);
            }
            catch (GmmException e)
            {
                refused = e;
                return frame;
            }
        }
    }
}
