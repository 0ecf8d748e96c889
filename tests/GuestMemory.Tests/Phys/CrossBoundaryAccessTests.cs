namespace GuestMemory.Tests.Phys;

/// <summary>Read and Write across page and range boundaries: RAM next to ROM next to MMIO next to RAM.</summary>
public sealed class CrossBoundaryAccessTests
{
    private const ulong Page = MixedLayout.Page;

    [Fact]
    public void One_write_across_every_range_lands_in_each_and_reads_back_whole()
    {
        using var layout = new MixedLayout();
        byte[] expected = layout.InitialContent();
        ulong start = MixedLayout.RomStart - Page - 123;
        byte[] data = TestVms.Bytes((int)(MixedLayout.HighRamStart + 2 * Page + 7 - start), seed: 1);

        layout.Memory.Write(start, data);
        data.CopyTo(expected, (int)start);

        Assert.Equal(expected, layout.Memory.ReadBytes(0, (int)MixedLayout.End));
        Assert.Equal(data.AsSpan((int)(MixedLayout.MmioStart - start), (int)Page).ToArray(), layout.Mmio.Registers);
        layout.Gmm.Verify();
    }

    [Theory]
    [InlineData(0UL, 3 * Page)]
    [InlineData(Page - 1, 2)]
    [InlineData(5 * Page - 7, 3 * Page + 11)]
    [InlineData(MixedLayout.RomStart - 3, 6)]
    [InlineData(MixedLayout.HighRamStart - 5, 10)]
    [InlineData(MixedLayout.End - 9, 9)]
    public void Writes_across_pages_read_back_through_any_split(ulong address, ulong length)
    {
        using var layout = new MixedLayout();
        byte[] expected = layout.InitialContent();
        byte[] data = TestVms.Bytes((int)length, seed: (int)address);
        layout.Memory.Write(address, data);
        data.CopyTo(expected, (int)address);

        for (ulong at = address; at < address + length; at += 1 + (ulong)length / 5)
        {
            int n = (int)Math.Min(Page + 3, address + length - at);
            Assert.Equal(expected.AsSpan((int)at, n).ToArray(), layout.Memory.ReadBytes(at, n));
        }
        Assert.Equal(expected, layout.Memory.ReadBytes(0, (int)MixedLayout.End));
        layout.Gmm.Verify();
    }

    [Theory]
    [InlineData(Page - 4)]                     // two RAM pages
    [InlineData(MixedLayout.RomStart - 4)]     // RAM then ROM
    [InlineData(MixedLayout.MmioStart - 3)]    // ROM then MMIO
    [InlineData(MixedLayout.HighRamStart - 1)] // MMIO then RAM
    [InlineData(12 * Page + 8)]                // inside one page
    public void UInt64_accesses_straddling_boundaries_are_little_endian_and_exact(ulong address)
    {
        using var layout = new MixedLayout();
        const ulong value = 0x1122_3344_5566_7788;
        layout.Memory.WriteUInt64(address, value);
        Assert.Equal(value, layout.Memory.ReadUInt64(address));
        Assert.Equal(BitConverter.GetBytes(value), layout.Memory.ReadBytes(address, 8));
        Assert.Equal(0x88, layout.Memory.ReadBytes(address, 1)[0]);
        layout.Gmm.Verify();
    }
}
