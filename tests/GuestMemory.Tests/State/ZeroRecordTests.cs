using GuestMemory.Phys;
using GuestMemory.State;

namespace GuestMemory.Tests.State;

/// <summary>A private page whose bytes are all zero is written as ZERO: it costs no data and comes back as a zero page.</summary>
public sealed class ZeroRecordTests
{
    private const int DataPages = 10, ZeroedPages = 40;

    [Fact]
    public void AnAllZeroPrivatePageIsWrittenAsZero()
    {
        using var host = new StateTestHost();
        VirtualMachine written = host.NewVm("written-zeros");
        VirtualMachine untouched = host.NewVm("untouched");
        VirtualMachine data = host.NewVm("data");
        foreach (VirtualMachine vm in new[] { written, untouched, data })
            for (int p = 0; p < DataPages; p++) vm.Memory.Write(GuestContent.Address(p), StateTestHost.Bytes(Paging.PageSize, p));
        for (int p = DataPages; p < DataPages + ZeroedPages; p++)
        {
            written.Memory.Write(GuestContent.Address(p), new byte[Paging.PageSize]);
            data.Memory.Write(GuestContent.Address(p), StateTestHost.Bytes(Paging.PageSize, 1000 + p));
        }
        Assert.Equal(GuestPageState.Allocated, written.Memory.GetPage(GuestContent.Address(DataPages)).State);

        byte[] zeros = StateTestHost.Save(written);

        // Byte for byte the state of a VM that never touched those pages; 40 pages of data cost at least 40 x 4 KiB more.
        Assert.Equal(StateTestHost.Save(untouched), zeros);
        Assert.True(StateTestHost.Save(data).Length >= zeros.Length + ZeroedPages * Paging.PageSize);
        host.Gmm.Verify();
    }

    [Fact]
    public void ZeroRecordsComeBackAsZeroPagesWithoutHostPages()
    {
        using var host = new StateTestHost();
        VirtualMachine written = host.NewVm("written-zeros");
        for (int p = 0; p < ZeroedPages; p++) written.Memory.Write(GuestContent.Address(p), new byte[Paging.PageSize]);
        byte[] state = StateTestHost.Save(written);

        VirtualMachine copy = host.NewVm("copy");
        RestoreSummary summary = StateTestHost.Restore(copy, state);

        Assert.All(Enumerable.Range(0, ZeroedPages), p => Assert.Equal(GuestPageState.Zero, copy.Memory.GetPage(GuestContent.Address(p)).State));
        Assert.Equal(4, summary.PrivatePages); // the ROM pages: 3 of the shadow ROM, 1 of the other
        Assert.Equal(4, summary.PagesAllocatedUpFront);
        Assert.Equal(VmSnapshot.Content(written), VmSnapshot.Content(copy));
        host.Gmm.Verify();
    }
}
