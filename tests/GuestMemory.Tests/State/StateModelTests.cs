using GuestMemory.Tests.Phys.Model;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.State;

/// <summary>
/// Saves, restores and corrupted restores mixed into the guest-physical model's random operations (writes,
/// maps, merges into shared pages, balloons, resets) over several VMs: a restore brings back exactly what the
/// model kept at the save, a corrupted one changes nothing, and <c>Verify()</c> stays clean throughout.
/// </summary>
public sealed class StateModelTests
{
    private const int Vms = 3;

    [Theory]
    [InlineData(20261122, 20_000)]
    [InlineData(5, 5_000)]
    public void Random_saves_and_restores_match_the_reference_model(int seed, int operations) =>
        new ModelTestRunner<PhysOp>(() => new PhysModelSystem(Vms), Next).Run(seed, operations);

    /// <summary>About one operation in 25 is a save, a restore or a corrupted restore; the rest are the Phys model's.</summary>
    private static PhysOp Next(Random random)
    {
        int vm = random.Next(Vms);
        return random.Next(1000) switch
        {
            < 15 => new SaveOp(vm),
            < 30 => new RestoreOp(vm),
            < 40 => new CorruptRestoreOp(vm, random.Next(int.MaxValue), (byte)random.Next(1, 256)),
            _ => PhysOpGenerator.Next(random, Vms),
        };
    }
}
