namespace GuestMemory.Tests.Support;

/// <summary>Polls for a condition a background thread brings about; fails after a generous bound (a hang, not a timing).</summary>
internal static class Wait
{
    public static void Until(Func<bool> condition, int timeoutSeconds = 30)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(timeoutSeconds)) Assert.Fail($"the condition did not come true within {timeoutSeconds} s");
            Thread.Sleep(5);
        }
    }
}
