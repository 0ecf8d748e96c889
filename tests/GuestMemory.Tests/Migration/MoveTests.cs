using GuestMemory.Migration;
using GuestMemory.Tests.State;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Migration;

/// <summary>A live move over loopback TCP brings the VM's memory byte for byte, while its guest writes on until the pause.</summary>
public sealed class MoveTests
{
    [Fact]
    public async Task AMoveWithAConcurrentWriterArrivesByteExactAndTheSourceIsDestroyed()
    {
        using var hosts = new MigrationHosts();
        VirtualMachine vm = hosts.Source.MixedVm("moving", seed: 1);
        byte[] paused = [];
        Task<ReceivedVm> target = hosts.ReceiveOne();
        MoveReport report;
        using (var writer = new GuestWriter(vm, pages: 200, seed: 5))
        {
            writer.WaitForWrites(500);
            report = vm.MoveTo(hosts.Connect(), () =>
            {
                writer.Pause();
                paused = VmSnapshot.Content(vm);
            }, writer.Resume, MigrationHosts.SourceOptions);
        }
        ReceivedVm received = await target;

        Assert.Equal(paused, VmSnapshot.Content(received.Vm));
        Assert.True(vm.IsDestroyed);
        Assert.Equal("moving", received.Vm.Name);
        Assert.True(report.Passes.Count >= 2);
        Assert.True(report.Passes[^1].Final);
        Assert.Equal(GuestContent.BalloonPages, received.Vm.Accounts.BalloonedPages);
        hosts.Verify();
    }

    [Fact]
    public async Task RangesRegisteredDuringTheMoveAbortItAndTheSourceRunsOn()
    {
        using var hosts = new MigrationHosts();
        VirtualMachine vm = hosts.Source.MixedVm("moving", seed: 3);
        Task<ReceivedVm> target = hosts.ReceiveOne();
        var registerDuringPass = new ProgressCallback(p =>
        {
            if (p.Phase == MigrationPhase.PreCopy && p.Pass == 1) vm.Memory.RegisterRam(0x3000_0000, 16 * Paging.PageSize, "hot-plugged");
        });
        int resumes = 0;

        GmmException e = Assert.Throws<GmmException>(() => vm.MoveTo(hosts.Connect(), () => { }, () => resumes++, MigrationHosts.SourceOptions, registerDuringPass));
        GmmException targetError = await Assert.ThrowsAsync<GmmException>(() => target);

        Assert.Equal(GmmError.StateLayoutMismatch, e.Error);
        Assert.Equal(1, resumes);
        Assert.Equal(GmmError.MigrationAborted, targetError.Error);
        Assert.Equal(GmmError.StateLayoutMismatch, Assert.IsType<GmmException>(targetError.InnerException).Error);
        Assert.False(vm.IsDestroyed);
        Assert.Empty(hosts.Target.Gmm.Vms);
        hosts.Verify();
    }

    [Fact]
    public async Task AVmThatIsBeingSavedCannotMoveAndTheTargetKeepsNothing()
    {
        using var hosts = new MigrationHosts();
        VirtualMachine vm = hosts.Source.MixedVm("saving", seed: 4);
        Task<ReceivedVm> target = hosts.ReceiveOne();

        using (vm.BeginLiveSave(new MemoryStream()))
            Assert.Throws<InvalidOperationException>(() => vm.MoveTo(hosts.Connect(), () => { }, () => { }, MigrationHosts.SourceOptions));
        GmmException targetError = await Assert.ThrowsAsync<GmmException>(() => target);

        Assert.Equal(GmmError.MigrationAborted, targetError.Error);
        Assert.Empty(hosts.Target.Gmm.Vms);
        hosts.Verify();
    }
}
