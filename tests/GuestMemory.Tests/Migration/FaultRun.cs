using GuestMemory.Gmm;
using GuestMemory.Migration;
using GuestMemory.Tests.State;

namespace GuestMemory.Tests.Migration;

/// <summary>
/// One move of a mixed VM through a <see cref="FaultProxy"/>, with a deterministic guest: after the
/// first pass it writes a few pages (so a second pre-copy pass exists, since the allowed downtime is
/// tiny), and a few more just before it pauses (so the final pass carries data). What the source held
/// when the move failed is therefore known exactly.
/// </summary>
internal sealed class FaultRun : IDisposable
{
    private const int DirtiedPages = 10;
    private readonly MigrationHosts _hosts = new();
    private readonly FaultProxy _proxy;
    private readonly VirtualMachine _vm;
    private VmState _before;
    private int _pauses, _resumes;

    public FaultRun(Fault fault)
    {
        _vm = _hosts.Source.MixedVm("moving", seed: 3);
        _before = VmState.Of(_vm);
        _proxy = new FaultProxy(_hosts.Port, fault);
    }

    /// <summary>What the target's <see cref="GlobalMemoryManager.ReceiveVm"/> threw.</summary>
    public GmmException? TargetError { get; private set; }

    /// <summary>Runs the move, which must fail on both sides; returns the source's error.</summary>
    public async Task<GmmException> Move()
    {
        Task<ReceivedVm> target = _hosts.ReceiveOne();
        var options = MigrationHosts.SourceOptions with { MaxDowntime = TimeSpan.FromTicks(1) };
        var progress = new ProgressCallback(AfterPass);
        GmmException source = Assert.Throws<GmmException>(() =>
            _vm.MoveTo(_hosts.Connect(_proxy.Port), Pause, () => _resumes++, options, progress));
        TargetError = await Assert.ThrowsAsync<GmmException>(() => target);
        Assert.True(_proxy.Triggered, "the fault was never applied");
        return source;
    }

    /// <summary>The source VM is alive with the same memory, page kinds and accounts, resumed if it was paused; the target holds nothing.</summary>
    public void AssertSourceUnchangedAndTargetEmpty()
    {
        Assert.False(_vm.IsDestroyed);
        Assert.Equal(_pauses, _resumes);
        _before.AssertSame(VmState.Of(_vm));
        _vm.Memory.Write(GuestContent.Address(1), [1, 2, 3]); // and it runs on
        Assert.Empty(_hosts.Target.Gmm.Vms);
        Assert.Equal(0, _hosts.Target.Gmm.Statistics.AllocatedPages);
        _hosts.Verify();
    }

    public void Dispose()
    {
        _proxy.Dispose();
        _hosts.Dispose();
    }

    /// <summary>The guest's writes after pass 1, made on the session's thread before it counts the next pass.</summary>
    private void AfterPass(MigrationProgress p)
    {
        if (p.Phase == MigrationPhase.PreCopy && p.Pass == 1) Write(firstPage: 200);
    }

    /// <summary>The guest's last writes, then it stops.</summary>
    private void Pause()
    {
        Write(firstPage: 300);
        _pauses++;
    }

    private void Write(int firstPage)
    {
        for (int page = firstPage; page < firstPage + DirtiedPages; page++) _vm.Memory.Write(GuestContent.Address(page), StateTestHost.Bytes(Paging.PageSize, 900 + page));
        _before = VmState.Of(_vm);
    }
}

/// <summary>A VM's memory as the guest sees it, how each page is backed, and its accounts.</summary>
internal sealed record VmState(byte[] Content, string Kinds, GmmVmStatistics Accounts)
{
    public static VmState Of(VirtualMachine vm) => new(VmSnapshot.Content(vm), VmSnapshot.Kinds(vm), vm.Accounts);

    public void AssertSame(VmState now)
    {
        Assert.True(Content.AsSpan().SequenceEqual(now.Content), "the source's memory changed");
        Assert.Equal(Kinds, now.Kinds);
        Assert.Equal(Accounts, now.Accounts);
    }
}
