using GuestMemory.Benchmarks;
using GuestMemory.Qemu;

namespace GuestMemory.Qemu.Tests.Unit;

/// <summary>The balloon benchmark's check that a guest can hold its grower's tmpfs (figures of a 384 MiB Debian 6.1 guest: 298 MiB available after boot).</summary>
public sealed class GrowthRoomTests
{
    private const long Ram = 384L << 20, Available = 298L << 20;

    [Fact]
    public void A_384_MiB_guest_holds_256_MiB_but_not_the_300_MiB_that_panicked_its_kernel()
    {
        GrowthRoom.Check("balloon1", Ram, Available, 256);
        GrowthRoom.Check("balloon1", Ram, Available, GrowthRoom.MaxGrowMib(Available));
        var e = Assert.Throws<QemuException>(() => GrowthRoom.Check("balloon1", Ram, Available, 300));
        Assert.Equal(QemuError.InvalidArgument, e.Error);
        Assert.Contains("298 MiB available", e.Message);
        Assert.Contains($"at most {GrowthRoom.MaxGrowMib(Available)} MiB", e.Message);
        Assert.Throws<QemuException>(() => GrowthRoom.Check("balloon1", Ram, Available, GrowthRoom.MaxGrowMib(Available) + 1));
    }

    [Fact]
    public void A_guest_with_less_than_the_headroom_holds_nothing()
    {
        Assert.Equal(0, GrowthRoom.MaxGrowMib(GrowthRoom.KernelHeadroomBytes - 1));
        Assert.Throws<QemuException>(() => GrowthRoom.Check("g", Ram, 0, 10));
    }
}
