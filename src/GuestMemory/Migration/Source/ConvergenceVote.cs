namespace GuestMemory.Migration.Source;

/// <summary>
/// Decides after each pre-copy pass whether to pause the guest now (seed: the live save "stops when the
/// dirty rate is low or the remaining work fits the allowed downtime"). It weighs the pages dirtied
/// since the last pass (the final pass's size if it paused now) against the bandwidth measured over the
/// passes so far, against the allowed downtime:
/// <list type="number">
/// <item><b>fits</b>: those pages take at most a quarter of the allowed downtime at that bandwidth: pause
/// (the rest is for pausing, arming the final pass, the target's commit, a few milliseconds on a 1 GiB
/// VM, and the round trips of COMMIT and RESUME);</item>
/// <item><b>not converging</b>: the guest dirtied about as many pages during the last pass as the pass
/// sent (dirty rate near the bandwidth), so another pass would not be shorter: pause;</item>
/// <item><b>pass cap</b>: one pass left before <see cref="MoveOptions.MaxPasses"/>: pause;</item>
/// <item>otherwise another pre-copy pass.</item>
/// </list>
/// </summary>
/// <remarks>The bandwidth is bytes over time of all pre-copy passes together: the first pass dominates, so
/// short later passes (whose timing is mostly fixed costs) do not make it swing.</remarks>
internal sealed class ConvergenceVote(MoveOptions options)
{
    /// <summary>The share of the allowed downtime the final pass's transfer may take.</summary>
    private const double TransferShare = 0.25;

    /// <summary>A pass that sends at least this share of the pass before is "not shrinking".</summary>
    private const double NotShrinking = 0.9;

    private long _bytes;
    private TimeSpan _time;
    private long _lastTaken = long.MaxValue;

    /// <summary>The decision and why.</summary>
    public readonly record struct Decision(bool Pause, string Reason, TimeSpan ExpectedFinalPass);

    /// <summary>Bytes per second over the passes so far.</summary>
    public double Bandwidth => _time > TimeSpan.Zero ? _bytes / _time.TotalSeconds : 0;

    public void PassDone(PassReport pass)
    {
        _bytes += pass.Bytes;
        _time += pass.Duration;
        _lastTaken = pass.PagesTaken;
    }

    /// <summary>The vote, given the pages dirtied since the last pass and the passes done.</summary>
    public Decision Decide(long pending, int passesDone)
    {
        TimeSpan expected = Bandwidth > 0 ? TimeSpan.FromSeconds(pending * (double)Paging.PageSize / Bandwidth) : TimeSpan.MaxValue;
        if (expected <= options.MaxDowntime * TransferShare)
            return new Decision(true, $"{pending} dirty pages fit the downtime ({expected.TotalMilliseconds:0.0} ms at {Bandwidth / 1e6:0} MB/s)", expected);
        if (passesDone >= 2 && pending >= _lastTaken * NotShrinking)
            return new Decision(true, $"not converging: {pending} pages dirtied during a pass of {_lastTaken}", expected);
        if (passesDone + 1 >= options.MaxPasses)
            return new Decision(true, $"pass cap: {pending} dirty pages after {passesDone} passes", expected);
        return new Decision(false, "", expected);
    }
}
