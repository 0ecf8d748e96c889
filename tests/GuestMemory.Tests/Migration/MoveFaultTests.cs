using GuestMemory.Gmm;
using GuestMemory.Migration;
using GuestMemory.Tests.State;

namespace GuestMemory.Tests.Migration;

/// <summary>
/// A move broken at every phase (a dropped connection, a corrupted byte, a truncated frame, between the
/// hosts by a frame-aware proxy) leaves the source running unchanged and the target with nothing, and
/// both sides say what happened.
/// </summary>
public sealed class MoveFaultTests
{
    private static readonly Dictionary<string, Fault> Drops = new()
    {
        { "handshake: HELLO lost", new Fault(Direction.SourceToTarget, MessageType.Hello, 1, FaultAction.Drop) },
        { "handshake: ACCEPT lost", new Fault(Direction.TargetToSource, MessageType.Accept, 1, FaultAction.Drop) },
        { "hash query", new Fault(Direction.SourceToTarget, MessageType.HashQuery, 1, FaultAction.Drop) },
        { "hash answer", new Fault(Direction.TargetToSource, MessageType.HashAnswer, 1, FaultAction.Drop) },
        { "pre-copy pass 1", new Fault(Direction.SourceToTarget, MessageType.Pages, 1, FaultAction.Drop) },
        { "pre-copy pass 2", new Fault(Direction.SourceToTarget, MessageType.PassEnd, 2, FaultAction.Drop) },
        { "stop-and-copy: STOP", new Fault(Direction.SourceToTarget, MessageType.Stop, 1, FaultAction.Drop) },
        { "stop-and-copy: final pages", new Fault(Direction.SourceToTarget, MessageType.Pages, 1, FaultAction.Drop, After: MessageType.Stop) },
        { "commit", new Fault(Direction.SourceToTarget, MessageType.Commit, 1, FaultAction.Drop) },
        { "before RESUMED: COMMITTED lost", new Fault(Direction.TargetToSource, MessageType.Committed, 1, FaultAction.Drop) },
    };

    public static TheoryData<string> DroppedInEveryPhase => new(Drops.Keys);

    public static TheoryData<string> Corrupted => new(Corruptions.Keys);

    [Theory]
    [MemberData(nameof(DroppedInEveryPhase))]
    public async Task ADroppedConnectionLeavesTheSourceRunningUnchangedAndTheTargetWithNothing(string phase)
    {
        using var run = new FaultRun(Drops[phase]);
        GmmException e = await run.Move();
        Assert.Equal(GmmError.MigrationConnectionLost, e.Error);
        run.AssertSourceUnchangedAndTargetEmpty();
    }

    private static readonly Dictionary<string, Fault> Corruptions = new()
    {
        { "a page byte", new Fault(Direction.SourceToTarget, MessageType.Pages, 1, FaultAction.Corrupt, Offset: 5000) },
        { "a frame length", new Fault(Direction.SourceToTarget, MessageType.Pages, 1, FaultAction.Corrupt, Offset: 9) },
        { "a sequence number", new Fault(Direction.SourceToTarget, MessageType.PassEnd, 1, FaultAction.Corrupt, Offset: 4) },
        { "a query key", new Fault(Direction.SourceToTarget, MessageType.HashQuery, 1, FaultAction.Corrupt, Offset: 30) },
        { "the final pass", new Fault(Direction.SourceToTarget, MessageType.Pages, 1, FaultAction.Corrupt, Offset: 100, After: MessageType.Stop) },
        { "the commit's figures", new Fault(Direction.SourceToTarget, MessageType.Commit, 1, FaultAction.Corrupt, Offset: 20) },
    };

    [Theory]
    [MemberData(nameof(Corrupted))]
    public async Task ACorruptedByteIsRefusedByTheTargetWhichAbortsTheMove(string what)
    {
        using var run = new FaultRun(Corruptions[what]);
        GmmException e = await run.Move();
        Assert.Equal(GmmError.MigrationAborted, e.Error);
        Assert.Equal(GmmError.MigrationStreamCorrupt, Assert.IsType<GmmException>(e.InnerException).Error);
        Assert.Equal(GmmError.MigrationStreamCorrupt, run.TargetError!.Error);
        run.AssertSourceUnchangedAndTargetEmpty();
    }

    [Fact]
    public async Task ACorruptedAnswerIsRefusedByTheSource()
    {
        using var run = new FaultRun(new Fault(Direction.TargetToSource, MessageType.HashAnswer, 1, FaultAction.Corrupt, Offset: 20));
        GmmException e = await run.Move();
        Assert.Equal(GmmError.MigrationStreamCorrupt, e.Error);
        Assert.Equal(GmmError.MigrationAborted, run.TargetError!.Error); // the source told the target why
        run.AssertSourceUnchangedAndTargetEmpty();
    }

    [Theory]
    [InlineData("PAGE", 3000)]
    [InlineData("PAGE", 10)]
    [InlineData("CMIT", 16)]
    public async Task ATruncatedStreamIsDiscarded(string tag, int bytesForwarded)
    {
        var type = (MessageType)BitConverter.ToUInt32(System.Text.Encoding.ASCII.GetBytes(tag));
        using var run = new FaultRun(new Fault(Direction.SourceToTarget, type, 1, FaultAction.Truncate, Offset: bytesForwarded));
        GmmException e = await run.Move();
        Assert.Equal(GmmError.MigrationConnectionLost, e.Error);
        Assert.Equal(GmmError.MigrationConnectionLost, run.TargetError!.Error);
        Assert.Contains("inside frame", run.TargetError.Message);
        run.AssertSourceUnchangedAndTargetEmpty();
    }

    [Fact]
    public async Task ALostConfirmationAfterResumeLeavesTheSourcePausedAndInDoubt()
    {
        using var hosts = new MigrationHosts();
        VirtualMachine vm = hosts.Source.MixedVm("moving", seed: 2);
        byte[] content = VmSnapshot.Content(vm);
        using var proxy = new FaultProxy(hosts.Port, new Fault(Direction.TargetToSource, MessageType.Resumed, 1, FaultAction.Drop));
        Task<ReceivedVm> target = hosts.ReceiveOne();
        int pauses = 0, resumes = 0;

        GmmException e = Assert.Throws<GmmException>(() => vm.MoveTo(hosts.Connect(proxy.Port), () => pauses++, () => resumes++, MigrationHosts.SourceOptions));

        Assert.Equal(GmmError.MigrationInDoubt, e.Error);
        Assert.Equal((1, 0), (pauses, resumes)); // not resumed: the target may run it
        Assert.False(vm.IsDestroyed);
        ReceivedVm received = await target; // the target did resume it
        Assert.Equal(content, VmSnapshot.Content(received.Vm));
        hosts.Verify();
    }
}
