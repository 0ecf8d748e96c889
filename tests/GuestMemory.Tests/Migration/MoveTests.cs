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
}
