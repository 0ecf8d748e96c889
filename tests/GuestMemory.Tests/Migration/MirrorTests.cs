using GuestMemory.Migration;
using GuestMemory.Tests.State;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Migration;

/// <summary>
/// Mirroring: consistent checkpoints of a running VM to a standby, each applied only once complete; the
/// standby takes over from its last complete checkpoint, whatever happened to the source.
/// </summary>
public sealed class MirrorTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task CheckpointsOfAWritingGuestAreConsistentAndTheStandbyTakesOverFromTheLast()
    {
        using var hosts = new MigrationHosts();
        VirtualMachine vm = hosts.Source.MixedVm("mirrored", seed: 1);
        using var writer = new GuestWriter(vm, pages: 200, seed: 7);
        var images = new List<byte[]>();
        Task<MirrorStandby> receiving = Task.Run(() => hosts.Target.Gmm.StartStandby(hosts.Accept(), MigrationHosts.TargetOptions));
        // The checkpoint's image is the memory at its resume: the pass was read while the writer was paused.
        MirrorSource source = vm.StartMirror(hosts.Connect(), writer.Pause, () => { images.Add(VmSnapshot.Content(vm)); writer.Resume(); }, MigrationHosts.SourceOptions);
        using MirrorStandby standby = await receiving;

        using (source)
        {
            writer.WaitForWrites(300);
            for (int k = 1; k <= 3; k++)
            {
                Assert.Equal(k, source.Checkpoint().Number);
                writer.WaitForWrites(300);
            }
        }
        Assert.Equal(3, standby.Checkpoint);
        VirtualMachine standIn = standby.TakeOver();

        Assert.Equal(images[^1], VmSnapshot.Content(standIn));
        Assert.False(vm.IsDestroyed);
        writer.Pause();
        hosts.Verify();
    }

    [Fact]
    public void LaterCheckpointsSendOnlyWhatTheGuestDirtied()
    {
        using var mirror = new MirrorRun();
        mirror.Source.Checkpoint();
        mirror.Dirty(first: 10, count: 3);

        CheckpointReport second = mirror.Source.Checkpoint();
        CheckpointReport third = mirror.Source.Checkpoint();

        Assert.Equal(3, second.Passes.Single().PagesWithData);
        Assert.Equal(0, third.Passes.Single().PagesWithData);
        Assert.True(third.Bytes < Paging.PageSize, $"an idle checkpoint sent {third.Bytes} bytes");
        Assert.True(mirror.Standby.WaitForCheckpoint(3, Wait));
        mirror.AssertTakeOverEqualsCheckpoint(3);
    }

    [Theory]
    [InlineData("COMMIT of checkpoint 3 lost")]
    [InlineData("checkpoint 3's pages cut short")]
    [InlineData("checkpoint 3's pages corrupted")]
    public void ASourceLostMidCheckpointLeavesTheStandbyAtTheCheckpointBefore(string fault)
    {
        // Checkpoint 1 sends two page frames (a pre-copy pass and the final one), later ones one each.
        using var mirror = new MirrorRun(fault switch
        {
            "COMMIT of checkpoint 3 lost" => new Fault(Direction.SourceToTarget, MessageType.Commit, 3, FaultAction.Drop),
            "checkpoint 3's pages cut short" => new Fault(Direction.SourceToTarget, MessageType.Pages, 4, FaultAction.Truncate, Offset: 2000),
            _ => new Fault(Direction.SourceToTarget, MessageType.Pages, 4, FaultAction.Corrupt, Offset: 3000),
        });
        for (int k = 1; k <= 2; k++)
        {
            mirror.Source.Checkpoint();
            mirror.Dirty(first: 10 * k, count: 5);
        }

        Assert.Throws<GmmException>(() => mirror.Source.Checkpoint());

        Assert.True(mirror.Standby.WaitForCheckpoint(2, Wait));
        mirror.WaitForEnd();
        Assert.Equal(2, mirror.Standby.Checkpoint);
        Assert.NotNull(mirror.Standby.Failure);
        Assert.False(mirror.Vm.IsDestroyed); // the source runs on
        mirror.AssertTakeOverEqualsCheckpoint(2);
    }

    [Fact]
    public void AStandbyThatNeverCompletedACheckpointHasNothingToTakeOver()
    {
        using var mirror = new MirrorRun(new Fault(Direction.SourceToTarget, MessageType.Commit, 1, FaultAction.Drop));

        Assert.Throws<GmmException>(() => mirror.Source.Checkpoint());
        mirror.WaitForEnd();

        Assert.Equal(0, mirror.Standby.Checkpoint);
        Assert.Equal(GmmError.VmNotFound, Assert.Throws<GmmException>(() => mirror.Standby.TakeOver()).Error);
        Assert.Empty(mirror.Hosts.Target.Gmm.Vms);
        mirror.Hosts.Verify();
    }

    [Fact]
    public void AStandbyWaitsForTheNextCheckpointLongerThanItsTimeout()
    {
        // The timeout leaves room for a loaded machine's pauses between frames inside a checkpoint (100 ms failed once).
        using var mirror = new MirrorRun(standbyTimeout: TimeSpan.FromSeconds(1));
        mirror.Source.Checkpoint();

        Thread.Sleep(1500); // the source's interval: longer than the standby's timeout for a frame inside a checkpoint
        mirror.Dirty(first: 3, count: 2);
        mirror.Source.Checkpoint();

        Assert.False(mirror.Standby.Ended);
        mirror.AssertTakeOverEqualsCheckpoint(2);
    }

    [Fact]
    public void AGracefulStopLeavesTheStandbyWithTheLastCheckpoint()
    {
        using var mirror = new MirrorRun();
        mirror.Source.Checkpoint();
        mirror.Dirty(first: 3, count: 2);
        mirror.Source.Checkpoint();

        mirror.Source.Stop();
        mirror.WaitForEnd();

        Assert.Null(mirror.Standby.Failure);
        mirror.AssertTakeOverEqualsCheckpoint(2);
    }
}
