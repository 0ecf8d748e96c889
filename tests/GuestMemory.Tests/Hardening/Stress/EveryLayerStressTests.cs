using GuestMemory.Tests.Support;
using GuestMemory.Host;

namespace GuestMemory.Tests.Hardening.Stress;

/// <summary>
/// The stress with every layer at once (<see cref="EveryLayerStress"/>): zero content mismatches, zero
/// hangs, zero lock-order violations, both managers consistent. CI runs it for 10 s; a long run takes its
/// length in seconds from GMM_STRESS_SECONDS (scripts/stress.sh), and prints what each thread did, so runs
/// can be compared.
/// </summary>
public sealed class EveryLayerStressTests
{
    [Fact]
    public void Every_layer_at_once_keeps_every_byte_and_both_managers_consistent()
    {
        int seconds = int.TryParse(Environment.GetEnvironmentVariable("GMM_STRESS_SECONDS"), out int s) && s > 0 ? s : 10;
        int violations = LockOrderGuard.UnintendedCount();
        using var stress = new EveryLayerStress(TimeSpan.FromSeconds(seconds));

        IReadOnlyCollection<string> failures = stress.Run(hangLimit: TimeSpan.FromSeconds(seconds + 120));

        TestContext.Current.TestOutputHelper?.WriteLine($"stress, {seconds} s: {stress.Figures}");
        Assert.True(failures.Count == 0, $"{failures.Count} failures:{Environment.NewLine}{string.Join(Environment.NewLine, failures.Take(20))}");
        Assert.Equal(violations, LockOrderGuard.UnintendedCount());
        Assert.True(stress.Writes > 1000 && stress.Moves > 0 && stress.Saves > 0, $"the layers hardly ran: {stress.Figures}");
    }
}
