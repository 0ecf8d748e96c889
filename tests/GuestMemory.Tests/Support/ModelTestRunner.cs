using System.Diagnostics;
using System.Text;

namespace GuestMemory.Tests.Support;

/// <summary>A system under test paired with its plain reference model, driven one operation at a time.</summary>
public interface IModelTest<in TOp> : IDisposable
{
    /// <summary>Applies <paramref name="op"/> to the system and to the model; throws when their outcomes differ.</summary>
    void Apply(TOp op);

    /// <summary>Compares the whole system with the model. May be costly: the runner calls it every so often and at the end.</summary>
    void Check();
}

/// <summary>
/// Model-based random testing: a fixed seed generates the whole list of operations up front, the list is
/// replayed against a fresh system, and a failing list is shrunk by delta debugging (drop chunks of
/// operations, replay from scratch, keep the smallest list that still fails) before it is reported.
/// </summary>
/// <remarks>
/// <para><b>Why hand-written, with CsCheck and FsCheck at hand.</b> Both are served here now. They shrink
/// better in one respect, the values inside an operation, and CsCheck's <c>SampleParallel</c> could check
/// concurrent histories. But every replay here builds a manager on real host memory and disposes of it, and
/// a check (<c>Verify</c>) recounts everything, so replays are the cost: this loop bounds them
/// (<see cref="MaxShrinkReplays"/>, <see cref="MaxShrinkTime"/>), checks every <see cref="CheckEvery"/>
/// operations, and reports a seed and a list that replay by hand, which is what the 13 model tests need;
/// a port would change all of them for no failure the runner misses. Weigh CsCheck again for a
/// concurrent model test.</para>
/// Operations should name what they act on indirectly (a VM slot, a seed for picking pages) so that they
/// still mean something when the operations before them are shrunk away.
/// </remarks>
public sealed class ModelTestRunner<TOp>(Func<IModelTest<TOp>> createSystem, Func<Random, TOp> generate) where TOp : notnull
{
    /// <summary>Operations between two calls of <see cref="IModelTest{TOp}.Check"/>.</summary>
    public int CheckEvery { get; init; } = 1000;

    /// <summary>Shrinking stops after this many replays or <see cref="MaxShrinkTime"/>, whichever comes first.</summary>
    public int MaxShrinkReplays { get; init; } = 500;

    /// <inheritdoc cref="MaxShrinkReplays"/>
    public TimeSpan MaxShrinkTime { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Runs <paramref name="operations"/> operations from <paramref name="seed"/> and fails the test with the shrunk list if they fail.</summary>
    public void Run(int seed, int operations)
    {
        if (Explore(seed, operations) is { } failure) Assert.Fail(failure.Report());
    }

    /// <summary>Generates, replays and, on failure, shrinks; returns null when every operation and check passed.</summary>
    public ModelTestFailure<TOp>? Explore(int seed, int operations)
    {
        var random = new Random(seed);
        var ops = new List<TOp>(operations);
        for (int i = 0; i < operations; i++) ops.Add(generate(random));
        if (Replay(ops) is not { } first) return null;
        (List<TOp> minimal, ReplayFailure last, int replays) = Shrink(ops[..(first.At + 1)], first);
        return new ModelTestFailure<TOp>(seed, operations, first.At, first.Error, minimal, last.Error, replays);
    }

    private sealed record ReplayFailure(int At, Exception Error);

    /// <summary>Replays on a fresh system; the failure names the index of the operation after which things went wrong.</summary>
    private ReplayFailure? Replay(List<TOp> ops)
    {
        int at = 0;
        try
        {
            using IModelTest<TOp> system = createSystem();
            for (; at < ops.Count; at++)
            {
                system.Apply(ops[at]);
                if ((at + 1) % CheckEvery == 0 || at == ops.Count - 1) system.Check();
            }
            return null;
        }
        catch (Exception e)
        {
            return new ReplayFailure(Math.Min(at, ops.Count - 1), e);
        }
    }

    /// <summary>Delta debugging on complements: remove one of n chunks; on success halve nothing, else refine n.</summary>
    private (List<TOp> Minimal, ReplayFailure Failure, int Replays) Shrink(List<TOp> failing, ReplayFailure failure)
    {
        var clock = Stopwatch.StartNew();
        int chunks = 2, replays = 0;
        while (failing.Count >= 2)
        {
            int size = (failing.Count + chunks - 1) / chunks;
            bool reduced = false;
            for (int start = 0; start < failing.Count; start += size)
            {
                if (replays >= MaxShrinkReplays || clock.Elapsed > MaxShrinkTime) return (failing, failure, replays);
                List<TOp> candidate = [.. failing[..start], .. failing[Math.Min(failing.Count, start + size)..]];
                replays++;
                if (Replay(candidate) is not { } f) continue;
                (failing, failure, reduced) = (candidate[..(f.At + 1)], f, true);
                chunks = Math.Max(chunks - 1, 2);
                break;
            }
            if (reduced) continue;
            if (chunks >= failing.Count) break;
            chunks = Math.Min(chunks * 2, failing.Count);
        }
        return (failing, failure, replays);
    }
}

/// <summary>What a failing model run found: the seed, where it first failed, and the shrunk list of operations.</summary>
public sealed record ModelTestFailure<TOp>(int Seed, int Operations, int FailedAt, Exception FirstError, IReadOnlyList<TOp> Minimal, Exception MinimalError, int ShrinkReplays)
{
    /// <summary>The message a failing test prints: enough to replay the failure by hand.</summary>
    public string Report(int maxListed = 200)
    {
        var text = new StringBuilder()
            .AppendLine($"Model test failed: seed {Seed}, operation {FailedAt + 1} of {Operations}.")
            .AppendLine($"First failure: {FirstError.GetType().Name}: {FirstError.Message}")
            .AppendLine($"Shrunk in {ShrinkReplays} replays to {Minimal.Count} operations:");
        for (int i = 0; i < Math.Min(Minimal.Count, maxListed); i++) text.AppendLine($"  {i + 1,4}. {Minimal[i]}");
        if (Minimal.Count > maxListed) text.AppendLine($"  ... {Minimal.Count - maxListed} more");
        return text.AppendLine($"which fail with: {MinimalError}").ToString();
    }
}
