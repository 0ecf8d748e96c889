namespace GuestMemory.Tests.Phys.Model;

/// <summary>The runner itself: a passing list passes; a failing one shrinks to the few operations that matter.</summary>
public sealed class ShrinkingModelRunnerTests
{
    private static List<int> Generate(Random random) => Enumerable.Range(0, 300).Select(_ => random.Next(1000)).Append(13).Prepend(77).ToList();

    /// <summary>Fails when 77 comes before a 13, as a bug that needs two operations in order would.</summary>
    private static void Replay(IReadOnlyList<int> ops)
    {
        int first77 = ops.ToList().IndexOf(77);
        if (first77 >= 0 && ops.Skip(first77).Contains(13)) throw new InvalidOperationException("77 then 13");
    }

    [Fact]
    public void A_failing_list_shrinks_to_the_operations_that_matter()
    {
        List<int> ops = Generate(new Random(5));
        (List<int> minimal, Exception failure) = ShrinkingModelRunner.Shrink(ops, new Exception(), Replay, TimeSpan.FromSeconds(30));
        Assert.Equal([77, 13], minimal);
        Assert.IsType<InvalidOperationException>(failure);
    }

    [Fact]
    public void The_failure_names_the_seed_and_the_minimal_list()
    {
        Exception e = Assert.ThrowsAny<Exception>(() => ShrinkingModelRunner.Run(5, Generate, Replay));
        Assert.Contains("seed 5", e.Message);
        Assert.Contains("to 2 operations", e.Message);
        Assert.Contains("0: 77", e.Message);
        Assert.Contains("1: 13", e.Message);
    }

    [Fact]
    public void A_passing_list_passes() => ShrinkingModelRunner.Run(5, Generate, _ => { });
}
