using GuestMemory.Host;

[assembly: AssemblyFixture(typeof(GuestMemory.Tests.Support.LockOrderGuard))]

namespace GuestMemory.Tests.Support;

/// <summary>
/// Fails the test run when any test took GuestMemory's locks against their order (the debug build's
/// <see cref="LockOrder"/> check), including violations that no test saw as an exception: one thrown
/// inside an exception filter is swallowed. The one test that breaks the order on purpose is left out.
/// </summary>
public sealed class LockOrderGuard : IDisposable
{
    /// <summary>The test that takes locks against the order on purpose, to see it reported.</summary>
    internal const string DeliberateViolation = nameof(Hardening.LockOrderTests.Taking_locks_against_the_order_is_reported);

    /// <summary>
    /// Violations recorded so far, less the deliberate test's: what a test compares before and after
    /// itself (the deliberate test may run beside it, in another class).
    /// </summary>
    public static int UnintendedCount() => Unintended().Length;

    public void Dispose()
    {
        string[] violations = Unintended();
        if (violations.Length > 0)
            throw new InvalidOperationException($"{violations.Length} lock-order violations in this run:{Environment.NewLine}{string.Join(Environment.NewLine, violations)}");
    }

    private static string[] Unintended() =>
        LockOrder.Violations.Where(v => !v.Contains(DeliberateViolation, StringComparison.Ordinal)).ToArray();
}
