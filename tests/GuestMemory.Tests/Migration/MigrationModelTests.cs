using GuestMemory.Tests.Phys.Model;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Migration;

/// <summary>
/// Live moves between two hosts over loopback TCP mixed into the guest-physical model's random operations
/// (writes, maps, merges into shared pages, balloons, resets, saves and restores): after every move the VM
/// reads exactly as the model says, both hosts' <c>Verify()</c> stay clean, and in the end each host gives
/// everything back. Moves make the target share contents with its other VMs, so sharing is exercised too.
/// </summary>
public sealed class MigrationModelTests
{
    private const int Vms = 3;

    [Theory]
    [InlineData(20261122, 4_000)]
    [InlineData(9, 2_000)]
    public void Random_moves_between_two_hosts_match_the_reference_model(int seed, int operations) =>
        new ModelTestRunner<PhysOp>(() => new PhysModelSystem(Vms), Next) { CheckEvery = 200 }.Run(seed, operations);

    [Fact]
    public void A_vm_moved_there_and_back_with_writes_between_matches_the_model()
    {
        using var system = new PhysModelSystem(Vms);
        PhysOp[] ops =
        [
            new WriteOp(0, 0x1ff0, 64, 1), new FillPageOp(1, 3, 0xAB), new FillPageOp(0, 3, 0xAB), new MergeOp(0, 3, 1, 3),
            new MoveOp(0), new WriteOp(0, 0x5000, 100, 2), new FillPageOp(2, 3, 0xAB), new MoveOp(2), new MergeOp(0, 3, 2, 3),
            new MoveOp(0), new ReadOp(0, 0x1ff0, 64), new VerifyOp(),
        ];
        foreach (PhysOp op in ops) system.Apply(op);
        system.Finish();
    }

    /// <summary>About one operation in 60 is a move, one in 100 a save or restore; the rest are the Phys model's.</summary>
    private static PhysOp Next(Random random)
    {
        int vm = random.Next(Vms);
        return random.Next(1000) switch
        {
            < 16 => new MoveOp(vm),
            < 21 => new SaveOp(vm),
            < 26 => new RestoreOp(vm),
            _ => PhysOpGenerator.Next(random, Vms),
        };
    }
}
