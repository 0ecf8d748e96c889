namespace GuestMemory.Tests.Support;

/// <summary>The model-test runner replays, finds failures found by Apply or by Check, and shrinks them to a minimal list.</summary>
public sealed class ModelTestRunnerTests
{
    /// <summary>A toy system that breaks once it has seen 13 and later 42, or (in Check) once its sum passes a bound.</summary>
    private sealed class Toy(int checkSumLimit) : IModelTest<int>
    {
        public static int Created, Disposed;
        private bool _saw13;
        private long _sum;

        public static Toy Create(int checkSumLimit)
        {
            Interlocked.Increment(ref Created);
            return new Toy(checkSumLimit);
        }

        public void Apply(int op)
        {
            _sum += op;
            if (op == 13) _saw13 = true;
            if (op == 42 && _saw13) throw new InvalidOperationException("42 after 13");
        }

        public void Check()
        {
            if (_sum > checkSumLimit) throw new InvalidOperationException($"sum {_sum}");
        }

        public void Dispose() => Interlocked.Increment(ref Disposed);
    }

    [Fact]
    public void A_passing_run_reports_nothing()
    {
        var runner = new ModelTestRunner<int>(() => Toy.Create(int.MaxValue), r => r.Next(0, 13));

        Assert.Null(runner.Explore(seed: 1, operations: 1000));
    }

    [Fact]
    public void A_failure_in_apply_shrinks_to_the_two_operations_that_cause_it()
    {
        var runner = new ModelTestRunner<int>(() => Toy.Create(int.MaxValue), r => r.Next(0, 100));

        ModelTestFailure<int>? failure = runner.Explore(seed: 7, operations: 2000);

        Assert.NotNull(failure);
        Assert.Equal([13, 42], failure.Minimal);
        Assert.Equal(7, failure.Seed);
        Assert.Contains("42 after 13", failure.MinimalError.Message);
        Assert.Contains("seed 7", failure.Report());
        Assert.Contains("2. 42", failure.Report());
    }

    [Fact]
    public void A_failure_found_by_check_is_shrunk_too()
    {
        var runner = new ModelTestRunner<int>(() => Toy.Create(checkSumLimit: 150), r => r.Next(0, 10)) { CheckEvery = 50 };

        ModelTestFailure<int>? failure = runner.Explore(seed: 3, operations: 500);

        Assert.NotNull(failure);
        Assert.True(failure.Minimal.Sum() > 150);
        Assert.True(failure.Minimal.Sum() - failure.Minimal.Min() <= 150, "no single operation can be dropped");
    }

    [Fact]
    public void Every_system_a_replay_creates_is_disposed()
    {
        int created = Toy.Created, disposed = Toy.Disposed;
        var runner = new ModelTestRunner<int>(() => Toy.Create(int.MaxValue), r => r.Next(0, 100));

        runner.Explore(seed: 7, operations: 500);

        Assert.Equal(Toy.Created - created, Toy.Disposed - disposed);
        Assert.True(Toy.Created - created > 1);
    }

    [Fact]
    public void Run_fails_the_test_with_the_report()
    {
        var runner = new ModelTestRunner<int>(() => Toy.Create(int.MaxValue), r => r.Next(0, 100));

        Exception e = Assert.ThrowsAny<Exception>(() => runner.Run(seed: 7, operations: 2000));

        Assert.Contains("Shrunk in", e.Message);
    }
}
