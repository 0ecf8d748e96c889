using GuestMemory.Gmm;
using GuestMemory.Migration;
using GuestMemory.Tests.State;

namespace GuestMemory.Tests.Migration;

/// <summary>
/// A target refuses up front, with the Gmm's typed error, when it cannot take the VM; the source learns
/// why and keeps running unchanged, and the target keeps nothing.
/// </summary>
public sealed class RefusalTests
{
    [Fact]
    public async Task AnOvercommittedTargetRefusesWithHitGlobalLimit()
    {
        using var hosts = new MigrationHosts(sourceMib: 32, targetMib: 4);
        VirtualMachine vm = hosts.Source.NewVm("big", ramPages: 2048);
        for (int p = 0; p < 1200; p++) vm.Memory.Write(GuestContent.Address(p), StateTestHost.Bytes(64, p));

        await AssertRefused(hosts, vm, GmmError.HitGlobalLimit);
    }

    [Fact]
    public async Task ATargetThatDeclinesTheReservationRefuses()
    {
        using var hosts = new MigrationHosts();
        using var strict = new StateTestHost(hostMib: 16, overcommitRatio: 1.0);
        VirtualMachine vm = hosts.Source.NewVm("too-big-to-reserve", ramPages: 8192);
        vm.Memory.Write(0, [1]);

        await AssertRefused(hosts, vm, GmmError.ReservationDeclined, strict.Gmm);
        strict.Gmm.Verify();
    }

    [Fact]
    public async Task ATargetWithAnotherLayoutRefuses()
    {
        using var hosts = new MigrationHosts();
        VirtualMachine vm = hosts.Source.MixedVm("with-devices", seed: 4);

        await AssertRefused(hosts, vm, GmmError.StateLayoutMismatch, options: MigrationHosts.TargetOptions with { RegisterRanges = null });
    }

    /// <summary>Moves <paramref name="vm"/> to a target (on <paramref name="target"/>, else the hosts' target) that must refuse with <paramref name="reason"/>.</summary>
    private static async Task AssertRefused(MigrationHosts hosts, VirtualMachine vm, GmmError reason, GlobalMemoryManager? target = null, IncomingOptions? options = null)
    {
        VmState before = VmState.Of(vm);
        GlobalMemoryManager receiver = target ?? hosts.Target.Gmm;
        Task<ReceivedVm> receiving = Task.Run(() =>
        {
            using System.Net.Sockets.NetworkStream connection = hosts.Accept();
            return receiver.ReceiveVm(connection, options ?? MigrationHosts.TargetOptions);
        });
        int pauses = 0;

        GmmException e = Assert.Throws<GmmException>(() => vm.MoveTo(hosts.Connect(), () => pauses++, () => { }, MigrationHosts.SourceOptions));
        GmmException targetError = await Assert.ThrowsAsync<GmmException>(() => receiving);

        Assert.Equal(GmmError.MigrationRefused, e.Error);
        Assert.Equal(reason, Assert.IsType<GmmException>(e.InnerException).Error);
        Assert.Equal(GmmError.MigrationRefused, targetError.Error);
        Assert.Equal(reason, Assert.IsType<GmmException>(targetError.InnerException).Error);
        Assert.Equal(0, pauses);
        before.AssertSame(VmState.Of(vm));
        Assert.Empty(receiver.Vms);
        Assert.Equal(0, receiver.Statistics.ReservedPages);
        hosts.Verify();
    }
}
