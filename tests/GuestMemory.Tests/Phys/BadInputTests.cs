namespace GuestMemory.Tests.Phys;

/// <summary>Every bad access is a typed error that leaves all state unchanged: not even the valid part of the access happens.</summary>
public sealed class BadInputTests
{
    private const ulong Page = MixedLayout.Page;

    public static TheoryData<ulong, int> OutsideAnyRange() => new()
    {
        { MixedLayout.End, 1 },                 // just past the last range
        { MixedLayout.End - 4, 8 },             // runs past it
        { 0x10_0000_0000, 16 },                 // far away, still below 2^52
        { 1UL << 52, 8 },                       // at the guest-physical limit
        { ulong.MaxValue - 3, 8 },              // address + length wraps 2^64
        { ulong.MaxValue, 1 },
        { 0, (int)MixedLayout.End + 1 },        // starts fine, one byte too long
    };

    [Theory]
    [MemberData(nameof(OutsideAnyRange))]
    public void Accesses_outside_the_ranges_fail_and_write_nothing(ulong address, int length)
    {
        using var layout = new MixedLayout();
        layout.Memory.Write(0, [1, 2, 3]);
        byte[] data = Enumerable.Repeat((byte)0xEE, length).ToArray();
        TestVms.FailsUnchanged(layout.Gmm, layout.Vm, GmmError.AddressNotMapped, () => layout.Memory.Write(address, data));
        TestVms.FailsUnchanged(layout.Gmm, layout.Vm, GmmError.AddressNotMapped, () => layout.Memory.Read(address, new byte[length]));
        if (length == 8)
        {
            TestVms.FailsUnchanged(layout.Gmm, layout.Vm, GmmError.AddressNotMapped, () => layout.Memory.WriteUInt64(address, ulong.MaxValue));
            TestVms.FailsUnchanged(layout.Gmm, layout.Vm, GmmError.AddressNotMapped, () => layout.Memory.ReadUInt64(address));
        }
        Assert.Empty(layout.Mmio.Accesses);
    }

    [Fact]
    public void An_access_that_reaches_a_hole_between_ranges_fails_whole()
    {
        using var layout = new MixedLayout();
        layout.Memory.RegisterRam(MixedLayout.End + Page, Page, "beyond a hole");
        byte[] data = Enumerable.Repeat((byte)0xEE, (int)(3 * Page)).ToArray();
        TestVms.FailsUnchanged(layout.Gmm, layout.Vm, GmmError.AddressNotMapped, () => layout.Memory.Write(MixedLayout.End - Page, data));
        TestVms.FailsUnchanged(layout.Gmm, layout.Vm, GmmError.AddressNotMapped, () => layout.Memory.WriteUInt64(MixedLayout.End + Page - 4, 1));
        TestVms.FailsUnchanged(layout.Gmm, layout.Vm, GmmError.AddressNotMapped, () => layout.Memory.Read(MixedLayout.End - 4, new byte[Page]));
        TestVms.FailsUnchanged(layout.Gmm, layout.Vm, GmmError.AddressNotMapped, () => layout.Memory.GetPage(MixedLayout.End));
    }

    [Fact]
    public void A_write_that_touches_a_ballooned_page_fails_before_writing_anything()
    {
        using var layout = new MixedLayout();
        Assert.True(PageRequests.Balloon(layout.Memory, 3 * Page));
        Assert.True(PageRequests.Balloon(layout.Memory, MixedLayout.HighRamStart));
        byte[] data = Enumerable.Repeat((byte)0xEE, (int)(3 * Page)).ToArray();
        TestVms.FailsUnchanged(layout.Gmm, layout.Vm, GmmError.PageBallooned, () => layout.Memory.Write(Page, data));
        TestVms.FailsUnchanged(layout.Gmm, layout.Vm, GmmError.PageBallooned, () => layout.Memory.Write(3 * Page + 100, [1]));
        TestVms.FailsUnchanged(layout.Gmm, layout.Vm, GmmError.PageBallooned, () => layout.Memory.WriteUInt64(3 * Page - 4, 1));
        TestVms.FailsUnchanged(layout.Gmm, layout.Vm, GmmError.PageBallooned, () => layout.Memory.Write(MixedLayout.MmioStart, new byte[Page + 1]));
        Assert.Empty(layout.Mmio.Accesses); // the MMIO part of a refused write never reaches the device
        Assert.False(layout.Memory.ReadBytes(3 * Page, (int)Page).AsSpan().ContainsAnyExcept((byte)0));
    }
}
