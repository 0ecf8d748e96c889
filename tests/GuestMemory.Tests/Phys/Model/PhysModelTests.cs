namespace GuestMemory.Tests.Phys.Model;

/// <summary>
/// Reads, writes, maps, resets and fusion-like merges over several VMs against a byte-exact reference model,
/// replayed from a fixed seed and shrunk on failure.
/// </summary>
public sealed class PhysModelTests
{
    private const int Vms = 4;

    [Theory]
    [InlineData(20260101, 50_000)]
    [InlineData(7, 10_000)]
    public void Random_operations_match_the_reference_model(int seed, int operations) =>
        ShrinkingModelRunner.Run(seed, random => PhysOpGenerator.Generate(random, Vms, operations), Replay);

    private static void Replay(IReadOnlyList<PhysOp> ops)
    {
        using var system = new PhysModelSystem(Vms);
        for (int i = 0; i < ops.Count; i++)
        {
            try
            {
                system.Apply(ops[i]);
            }
            catch (Exception e)
            {
                throw new InvalidOperationException($"operation {i} ({ops[i]}) failed: {e.Message}", e);
            }
        }
        system.Finish();
    }
}
