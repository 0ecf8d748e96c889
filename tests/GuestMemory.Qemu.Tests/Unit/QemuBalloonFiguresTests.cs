using GuestMemory.Balloon;
using GuestMemory.Qemu;

namespace GuestMemory.Qemu.Tests.Unit;

/// <summary>What QEMU and the guest report, turned into the controller's view of a guest (figures as a 384 MiB Debian 6.1 guest reported them).</summary>
public sealed class QemuBalloonFiguresTests
{
    private const long Ram = 384L << 20, Buffer = 24L << 20;

    [Fact]
    public void Available_memory_is_idle_and_the_rest_of_the_visible_RAM_is_used()
    {
        // query-balloon actual 320 MiB (a 64 MiB balloon), stat-available-memory 200 MiB
        BalloonDriverStatus s = QemuBalloonFigures.Status(Ram, 320L << 20, 200L << 20, Buffer);
        Assert.Equal(64L << 8, s.BalloonedPages);
        Assert.Equal(200L << 8, s.FreePages);
        Assert.Equal(120L << 8, s.UsedPages);
        Assert.Equal(144L << 8, s.NeededPages);
        Assert.Equal(0, s.WantedPages);
    }

    [Fact]
    public void A_guest_short_of_its_buffer_wants_the_difference()
    {
        BalloonDriverStatus s = QemuBalloonFigures.Status(Ram, 200L << 20, 10L << 20, Buffer);
        Assert.Equal(14L << 8, s.WantedPages);
    }

    [Fact]
    public void Before_the_first_statistics_nothing_is_idle_and_figures_stay_inside_the_RAM()
    {
        BalloonDriverStatus s = QemuBalloonFigures.Status(Ram, Ram, null, Buffer);
        Assert.Equal(new BalloonDriverStatus(0, 0, Ram >> 12, Ram >> 12), s);
        BalloonDriverStatus odd = QemuBalloonFigures.Status(Ram, Ram * 2, Ram * 3, Buffer); // nonsense from a broken guest is clamped
        Assert.Equal(0, odd.BalloonedPages);
        Assert.Equal(Ram >> 12, odd.FreePages);
        Assert.Equal(0, odd.UsedPages);
    }
}
