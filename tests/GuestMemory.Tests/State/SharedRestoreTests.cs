using GuestMemory.Gmm;
using GuestMemory.Phys;
using GuestMemory.State;

namespace GuestMemory.Tests.State;

/// <summary>
/// Shared pages are saved once per content and come back shared where the host still has an identical
/// shared page in the VM's sharing domain, and as private pages otherwise.
/// </summary>
public sealed class SharedRestoreTests
{
    private static readonly IEnumerable<int> SharedPageNumbers = Enumerable.Range(GuestContent.SharedFirst, GuestContent.SharedPages);

    [Fact]
    public void EachSharedContentIsWrittenOnce()
    {
        using var host = new StateTestHost();
        VirtualMachine source = host.MixedVm("source", seed: 1);

        SavedStateSummary summary = source.SaveState(new MemoryStream());

        Assert.Equal(GuestContent.SharedContents, summary.SharedContents);
        Assert.Equal(GuestContent.SharedPages - GuestContent.SharedContents, summary.SharedReferences);
        host.Gmm.Verify();
    }

    [Fact]
    public void SharedPagesComeBackSharedWhenTheHostStillHasThem()
    {
        using var host = new StateTestHost();
        (VirtualMachine source, byte[] state) = host.SavedMixedVm("source", seed: 1);
        GmmStatistics before = host.Gmm.Statistics;

        VirtualMachine copy = host.NewVm("copy");
        RestoreSummary summary = StateTestHost.Restore(copy, state);

        foreach (int p in SharedPageNumbers)
        {
            GuestPageInfo page = copy.Memory.GetPage(GuestContent.Address(p));
            Assert.Equal(GuestPageState.Shared, page.State);
            Assert.Equal(source.Memory.GetPage(GuestContent.Address(p)).HostPage, page.HostPage);
        }
        GmmStatistics after = host.Gmm.Statistics;
        Assert.Equal(before.SharedPages, after.SharedPages);
        Assert.Equal(before.DuplicatePages + GuestContent.SharedPages, after.DuplicatePages);
        Assert.Equal(GuestContent.SharedContents, summary.SharedContentsFound);
        Assert.Equal(GuestContent.SharedPages, summary.SharedPages);
        Assert.Equal(GuestContent.SharedPages, copy.Accounts.SharedPages);
        Assert.Equal(VmSnapshot.Content(source), VmSnapshot.Content(copy));
        host.Gmm.Verify();
    }

    [Fact]
    public void SharedPagesComeBackPrivateOnAHostThatHasNone()
    {
        using var first = new StateTestHost();
        (VirtualMachine source, byte[] state) = first.SavedMixedVm("source", seed: 2);
        using var second = new StateTestHost();

        VirtualMachine copy = second.Gmm.RestoreVm(StateTestHost.Options("copy"), new ForwardOnlyStream(state), StateTestHost.RegisterDevices);

        AssertPrivate(copy, second.Gmm);
        Assert.Equal(VmSnapshot.Content(source), VmSnapshot.Content(copy));
        first.Gmm.Verify();
        second.Gmm.Verify();
    }

    [Theory]
    [InlineData("other-tenant", true)]
    [InlineData("default", false)]
    public void SharingStaysInsideItsDomainAndOnlyForVmsThatShare(string domain, bool sharing)
    {
        using var host = new StateTestHost();
        (VirtualMachine source, byte[] state) = host.SavedMixedVm("source", seed: 3);
        GmmStatistics before = host.Gmm.Statistics;

        VirtualMachine copy = host.NewVm("copy", domain: domain, sharing: sharing);
        StateTestHost.Restore(copy, state);

        Assert.All(SharedPageNumbers, p => Assert.Equal(GuestPageState.Allocated, copy.Memory.GetPage(GuestContent.Address(p)).State));
        Assert.Equal(before.DuplicatePages, host.Gmm.Statistics.DuplicatePages);
        Assert.Equal(VmSnapshot.Content(source), VmSnapshot.Content(copy));
        host.Gmm.Verify();
    }

    [Fact]
    public void RestoringAVmOverItselfKeepsItsSharedPages()
    {
        using var host = new StateTestHost();
        (VirtualMachine source, byte[] state) = host.SavedMixedVm("source", seed: 4);
        GmmStatistics before = host.Gmm.Statistics;

        RestoreSummary summary = StateTestHost.Restore(source, state);

        Assert.Equal(GuestContent.SharedContents, summary.SharedContentsFound);
        GmmStatistics after = host.Gmm.Statistics;
        Assert.Equal((before.SharedPages, before.DuplicatePages), (after.SharedPages, after.DuplicatePages));
        host.Gmm.Verify();
    }

    private static void AssertPrivate(VirtualMachine vm, GlobalMemoryManager gmm)
    {
        Assert.All(SharedPageNumbers, p => Assert.Equal(GuestPageState.Allocated, vm.Memory.GetPage(GuestContent.Address(p)).State));
        Assert.Equal(0, gmm.Statistics.SharedPages);
        // The two pages of one content are two private pages now.
        Assert.NotEqual(vm.Memory.GetPage(GuestContent.Address(GuestContent.SharedFirst)).HostPage, vm.Memory.GetPage(GuestContent.Address(GuestContent.SharedFirst + 1)).HostPage);
    }
}
