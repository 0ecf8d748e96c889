using GuestMemory.Migration;
using GuestMemory.Tests.State;

namespace GuestMemory.Tests.Migration;

/// <summary>
/// A mirrored mixed VM (optionally through a <see cref="FaultProxy"/>) whose guest writes only when the
/// test says (<see cref="Dirty"/>), so the image of every checkpoint is known: the memory at its resume.
/// </summary>
internal sealed class MirrorRun : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    private readonly FaultProxy? _proxy;
    private readonly List<byte[]> _images = [];
    private int _writes;

    public MirrorRun(Fault? fault = null, TimeSpan? standbyTimeout = null)
    {
        Vm = Hosts.Source.MixedVm("mirrored", seed: 2);
        if (fault != null) _proxy = new FaultProxy(Hosts.Port, fault);
        IncomingOptions options = MigrationHosts.TargetOptions with { Timeout = standbyTimeout ?? MigrationHosts.TargetOptions.Timeout };
        Task<MirrorStandby> receiving = Task.Run(() => Hosts.Target.Gmm.StartStandby(Hosts.Accept(), options));
        Source = Vm.StartMirror(Hosts.Connect(_proxy?.Port), () => { }, () => _images.Add(VmSnapshot.Content(Vm)), MigrationHosts.SourceOptions);
        Standby = receiving.GetAwaiter().GetResult();
    }

    public MigrationHosts Hosts { get; } = new();
    public VirtualMachine Vm { get; }
    public MirrorSource Source { get; }
    public MirrorStandby Standby { get; }

    /// <summary>The guest writes new bytes to <paramref name="count"/> pages from <paramref name="first"/>.</summary>
    public void Dirty(int first, int count)
    {
        for (int p = first; p < first + count; p++) Vm.Memory.Write(GuestContent.Address(p), StateTestHost.Bytes(Paging.PageSize, 7000 + _writes++));
    }

    /// <summary>Waits until the standby's session ended (the source stopped or was lost).</summary>
    public void WaitForEnd()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!Standby.Ended) { Assert.True(clock.Elapsed < Wait, "the standby's session did not end"); Thread.Sleep(5); }
    }

    /// <summary>Takes over and checks that the VM holds exactly the image of checkpoint <paramref name="number"/>; both hosts stay consistent.</summary>
    public void AssertTakeOverEqualsCheckpoint(int number)
    {
        VirtualMachine standIn = Standby.TakeOver();
        Assert.Equal(_images[number - 1], VmSnapshot.Content(standIn));
        Assert.Equal("mirrored", standIn.Name);
        Hosts.Verify();
    }

    public void Dispose()
    {
        Source.Dispose();
        Standby.Dispose();
        _proxy?.Dispose();
        Hosts.Dispose();
    }
}
