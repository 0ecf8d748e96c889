namespace GuestMemory.Tests.Phys;

/// <summary>MMIO accesses go to the caller's handler with offsets relative to the range, outside every lock.</summary>
public sealed class MmioHandlerTests
{
    private const ulong Page = MixedLayout.Page;

    [Fact]
    public void The_handler_gets_range_relative_offsets_and_the_exact_data()
    {
        using var layout = new MixedLayout();
        layout.Memory.Write(MixedLayout.MmioStart + 0x10, [1, 2, 3, 4]);
        layout.Mmio.Registers[0x20] = 0xAB;
        byte[] read = layout.Memory.ReadBytes(MixedLayout.MmioStart + 0x1F, 3);
        layout.Memory.WriteUInt64(MixedLayout.MmioStart + 0x100, 0x0102030405060708);
        ulong value = layout.Memory.ReadUInt64(MixedLayout.MmioStart + 0x100);

        Assert.Equal(new byte[] { 0, 0xAB, 0 }, read);
        Assert.Equal(0x0102030405060708UL, value);
        Assert.Collection(layout.Mmio.Accesses,
            a => Assert.Equal(("write", 0x10UL, Hex(1, 2, 3, 4)), a),
            a => Assert.Equal(("read", 0x1FUL, Hex(0, 0xAB, 0)), a),
            a => Assert.Equal(("write", 0x100UL, Convert.ToHexString(BitConverter.GetBytes(0x0102030405060708UL))), a),
            a => Assert.Equal(("read", 0x100UL, Convert.ToHexString(BitConverter.GetBytes(0x0102030405060708UL))), a));
        Assert.False(layout.Mmio.CalledUnderLock);
        layout.Gmm.Verify();
    }

    [Fact]
    public void Accesses_that_run_into_and_out_of_mmio_give_the_handler_only_its_part()
    {
        using var layout = new MixedLayout();
        byte[] data = TestVms.Bytes((int)Page + 20, seed: 3);
        layout.Memory.Write(MixedLayout.MmioStart - 10, data);
        layout.Memory.ReadBytes(MixedLayout.MmioStart - 1, 2);
        layout.Memory.ReadBytes(MixedLayout.HighRamStart - 2, 4);

        Assert.Collection(layout.Mmio.Accesses,
            a => Assert.Equal(("write", 0UL, Convert.ToHexString(data.AsSpan(10, (int)Page).ToArray())), a),
            a => Assert.Equal(("read", 0UL, Convert.ToHexString(data.AsSpan(10, 1).ToArray())), a),
            a => Assert.Equal(("read", Page - 2, Convert.ToHexString(data.AsSpan(10 + (int)Page - 2, 2).ToArray())), a));
        Assert.False(layout.Mmio.CalledUnderLock);
        layout.Gmm.Verify();
    }

    private static string Hex(params byte[] bytes) => Convert.ToHexString(bytes);

    [Fact]
    public void Mmio_costs_no_page_and_cannot_be_mapped()
    {
        using var layout = new MixedLayout();
        long before = layout.Gmm.Statistics.AllocatedPages;
        layout.Memory.Write(MixedLayout.MmioStart, new byte[Page]);
        Assert.Equal(before, layout.Gmm.Statistics.AllocatedPages);
        TestVms.FailsUnchanged(layout.Gmm, layout.Vm, GmmError.NotRam, () => layout.Memory.MapForRead(MixedLayout.MmioStart).Dispose());
        TestVms.FailsUnchanged(layout.Gmm, layout.Vm, GmmError.NotRam, () => layout.Memory.MapForWrite(MixedLayout.MmioStart).Dispose());
    }
}
