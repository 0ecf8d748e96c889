using System.Diagnostics;

namespace GuestMemory.Tests.Phys.Model;

/// <summary>
/// A small model-based test driver: a fixed seed generates the whole operation list up front, the list is
/// replayed on a fresh system, and on failure it is shrunk by delta debugging (drop a chunk of operations,
/// replay from scratch, keep the shorter list if it still fails, halve the chunks when none can go) until no
/// single operation can be dropped. The test then fails with the seed and the minimal list. Self-contained on
/// purpose, so it can later be unified with the Gmm layer's runner.
/// </summary>
internal static class ShrinkingModelRunner
{
    /// <summary>Generates ops from <paramref name="seed"/> and replays them; fails with the shrunk list if the replay throws.</summary>
    public static void Run<TOp>(int seed, Func<Random, List<TOp>> generate, Action<IReadOnlyList<TOp>> replay, TimeSpan? shrinkBudget = null)
    {
        List<TOp> ops = generate(new Random(seed));
        Exception? failure = TryReplay(replay, ops);
        if (failure == null) return;
        (List<TOp> minimal, Exception last) = Shrink(ops, failure, replay, shrinkBudget ?? TimeSpan.FromMinutes(2));
        Assert.Fail($"model test failed with seed {seed}; shrunk from {ops.Count} to {minimal.Count} operations:{Environment.NewLine}" +
            string.Join(Environment.NewLine, minimal.Select((op, i) => $"  {i}: {op}")) +
            $"{Environment.NewLine}failure of the minimal list: {last}");
    }

    /// <summary>
    /// Delta debugging over complements: returns the smallest failing list found within the budget (any failure
    /// counts, so the list may end on a different symptom of the same bug) and the failure it gives.
    /// </summary>
    public static (List<TOp> Ops, Exception Failure) Shrink<TOp>(List<TOp> ops, Exception failure, Action<IReadOnlyList<TOp>> replay, TimeSpan budget)
    {
        var clock = Stopwatch.StartNew();
        int chunks = 2;
        while (ops.Count >= 2 && clock.Elapsed < budget)
        {
            int size = (ops.Count + chunks - 1) / chunks;
            bool reduced = false;
            for (int start = 0; start < ops.Count && clock.Elapsed < budget; start += size)
            {
                List<TOp> candidate = [.. ops.Take(start), .. ops.Skip(start + size)];
                if (TryReplay(replay, candidate) is not { } e) continue;
                (ops, failure, reduced) = (candidate, e, true);
                chunks = Math.Max(chunks - 1, 2);
                break;
            }
            if (reduced) continue;
            if (size == 1) break;
            chunks = Math.Min(chunks * 2, ops.Count);
        }
        return (ops, failure);
    }

    private static Exception? TryReplay<TOp>(Action<IReadOnlyList<TOp>> replay, List<TOp> ops)
    {
        try
        {
            replay(ops);
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    }
}
