using GuestMemory.State;
using GuestMemory.Phys;

namespace GuestMemory.Tests.State;

/// <summary>A saved state restores byte-exact, into a fresh VM or over a VM that already has memory.</summary>
public sealed class RoundTripTests
{
    [Fact]
    public void RestoresEveryKindOfPageIntoAFreshVm()
    {
        using var host = new StateTestHost();
        (VirtualMachine source, byte[] state) = host.SavedMixedVm("source", seed: 1);

        VirtualMachine copy = host.Gmm.RestoreVm(StateTestHost.Options("copy"), new ForwardOnlyStream(state), StateTestHost.RegisterDevices);

        Assert.Equal(VmSnapshot.Content(source), VmSnapshot.Content(copy));
        // Pages written all zero come back as zero pages; everything else as it was backed.
        string expected = VmSnapshot.Kinds(source).Remove(GuestContent.ZeroWrittenFirst, GuestContent.ZeroWrittenPages).Insert(GuestContent.ZeroWrittenFirst, new string('0', GuestContent.ZeroWrittenPages));
        Assert.Equal(expected, VmSnapshot.Kinds(copy));
        Assert.Equal(GuestContent.BalloonPages, copy.Accounts.BalloonedPages);
        host.Gmm.Verify();
    }

    [Fact]
    public void RestoresOverAVmWithOtherMemoryAndFreesWhatItNoLongerNeeds()
    {
        using var host = new StateTestHost();
        (VirtualMachine source, byte[] state) = host.SavedMixedVm("source", seed: 2);
        VirtualMachine target = host.NewVm("target");
        GuestContent.FillOther(target, seed: 99);
        long reservedBefore = target.Accounts.Reserved.Base;

        RestoreSummary summary = StateTestHost.Restore(target, state);

        Assert.Equal(VmSnapshot.Content(source), VmSnapshot.Content(target));
        Assert.Equal(VmSnapshot.Kinds(source).Replace('p', '?'), VmSnapshot.Kinds(target).Replace('p', '?').Remove(GuestContent.ZeroWrittenFirst, GuestContent.ZeroWrittenPages)
            .Insert(GuestContent.ZeroWrittenFirst, VmSnapshot.Kinds(source).Substring(GuestContent.ZeroWrittenFirst, GuestContent.ZeroWrittenPages).Replace('p', '?')));
        // The old image's pages went back: the target holds what the state needs (plus its handy pages), and its reservation is as before.
        GuestMemoryStatistics m = target.Memory.GetStatistics();
        Assert.Equal(summary.PrivatePages + m.HandyPages, target.Accounts.PrivatePages);
        Assert.Equal(summary.SharedPages, target.Accounts.SharedPages);
        Assert.Equal(GuestContent.BalloonPages, target.Accounts.BalloonedPages);
        Assert.Equal(reservedBefore, target.Accounts.Reserved.Base);
        host.Gmm.Verify();
    }

    [Fact]
    public void RestoresOverAFullVmThroughATemporaryReservationRaise()
    {
        byte[] state = StateTestHost.StateWithDataPages(StateTestHost.RamPages - 20);
        using var host = new StateTestHost();
        VirtualMachine target = host.NewVm("target");
        target.Memory.Write(0, StateTestHost.Bytes(StateTestHost.RamPages * Paging.PageSize, seed: 8));
        long reserved = host.Gmm.Statistics.ReservedPages;

        // Old and new image together exceed the VM's reservation while the new one is staged.
        RestoreSummary summary = StateTestHost.Restore(target, state);

        Assert.Equal(StateTestHost.RamPages - 20 + 4, summary.PrivatePages);
        Assert.Equal(reserved, host.Gmm.Statistics.ReservedPages);
        Assert.All(Enumerable.Range(StateTestHost.RamPages - 20, 20), p => Assert.Equal(GuestPageState.Zero, target.Memory.GetPage(GuestContent.Address(p)).State));
        host.Gmm.Verify();
    }

    [Fact]
    public void RestoringTheSameStateTwiceGivesTheSameImage()
    {
        using var host = new StateTestHost();
        (VirtualMachine source, byte[] state) = host.SavedMixedVm("source", seed: 3);
        VirtualMachine target = host.NewVm("target");

        StateTestHost.Restore(target, state);
        byte[] first = VmSnapshot.Content(target);
        target.Memory.Write(0, new byte[100]);
        StateTestHost.Restore(target, state);

        Assert.Equal(first, VmSnapshot.Content(target));
        Assert.Equal(VmSnapshot.Content(source), first);
        Assert.Equal(state, StateTestHost.Save(target));
        host.Gmm.Verify();
    }

    [Fact]
    public void TheVmKeepsAllocatingAfterARestoreReplacedPagesItHadJustTaken()
    {
        using var host = new StateTestHost();
        (VirtualMachine source, byte[] state) = host.SavedMixedVm("source", seed: 4);
        VirtualMachine target = host.NewVm("target");
        GuestContent.FillOther(target, seed: 11); // takes handy pages the Gmm has not been told about yet

        StateTestHost.Restore(target, state);
        for (int p = 100; p < StateTestHost.RamPages; p++) target.Memory.Write(GuestContent.Address(p), StateTestHost.Bytes(64, p)); // several refills

        Assert.Equal(VmSnapshot.Content(source).AsSpan(0, 100 * Paging.PageSize).ToArray(), VmSnapshot.Content(target).AsSpan(0, 100 * Paging.PageSize).ToArray());
        host.Gmm.Verify();
    }

    [Fact]
    public void MmioRangesAreLayoutOnly()
    {
        using var host = new StateTestHost();
        VirtualMachine withMmio = host.NewVm("with");
        VirtualMachine without = host.Gmm.CreateVm(StateTestHost.Options("without"));
        without.Memory.RegisterRom(StateTestHost.ShadowRomAt, StateTestHost.Bytes(10_000, seed: 7), RomWriteMode.Shadow, "bios");
        without.Memory.RegisterRom(StateTestHost.IgnoreRomAt, StateTestHost.Bytes(Paging.PageSize, seed: 8), RomWriteMode.Ignore, "option-rom");

        // The MMIO range costs one 24-byte entry of the header's range table, and no page record.
        Assert.Equal(StateTestHost.Save(without).Length + 24, StateTestHost.Save(withMmio).Length);
        host.Gmm.Verify();
    }
}
