using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Phys.Model;

/// <summary>
/// Reads, writes, maps, resets and fusion-like merges over several VMs against a byte-exact reference model,
/// replayed from a fixed seed and shrunk on failure (<see cref="ModelTestRunner{TOp}"/>).
/// </summary>
public sealed class PhysModelTests
{
    private const int Vms = 4;

    [Theory]
    [InlineData(20260101, 50_000)]
    [InlineData(7, 10_000)]
    public void Random_operations_match_the_reference_model(int seed, int operations) =>
        new ModelTestRunner<PhysOp>(() => new PhysModelSystem(Vms), random => PhysOpGenerator.Next(random, Vms)).Run(seed, operations);

    [Fact]
    public void Every_vm_returns_everything_when_destroyed_after_random_operations()
    {
        var random = new Random(11);
        using var system = new PhysModelSystem(Vms);
        for (int i = 0; i < 5_000; i++) system.Apply(PhysOpGenerator.Next(random, Vms));
        system.Finish();
    }
}
