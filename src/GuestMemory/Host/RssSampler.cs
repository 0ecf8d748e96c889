using System.Diagnostics;

namespace GuestMemory.Host;

/// <summary>
/// Samples the process's real RSS on its own thread (resting <c>interval</c> between readings) and finds
/// the excursions above a budget, bounded honestly by the samples around them. It reads the kernel's
/// resident counters (<see cref="HostRss.ReadCounterBytes"/>): smaps_rollup gives the same figure but
/// takes milliseconds per read, which would leave gaps longer than a controller period. Used by the
/// balloon tests and <c>gmm bench balloon</c>. <c>_lock</c> guards the samples, which the sampling thread
/// adds to while others read them.
/// </summary>
internal sealed class RssSampler : IDisposable
{
    private readonly List<(TimeSpan At, long Rss)> _samples = [];
    private readonly Lock _lock = new();
    private readonly Thread _thread;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private volatile bool _stop;

    /// <summary>Starts sampling now, resting <paramref name="interval"/> between readings.</summary>
    public RssSampler(TimeSpan interval)
    {
        _thread = new Thread(() =>
        {
            while (!_stop)
            {
                long rss = HostRss.ReadCounterBytes();
                lock (_lock) _samples.Add((_clock.Elapsed, rss));
                Thread.Sleep(interval);
            }
        }) { IsBackground = true, Name = "rss sampler" };
        _thread.Start();
    }

    /// <summary>Every sample so far: time since the sampler started, resident bytes.</summary>
    public IReadOnlyList<(TimeSpan At, long Rss)> Samples { get { lock (_lock) return _samples.ToArray(); } }

    /// <summary>The highest reading so far (0 before the first).</summary>
    public long Peak { get { lock (_lock) return _samples.Count == 0 ? 0 : _samples.Max(s => s.Rss); } }

    /// <summary>The longest gap between two samples: the granularity of every figure taken from them.</summary>
    public TimeSpan LongestGap()
    {
        var s = Samples;
        TimeSpan longest = TimeSpan.Zero;
        for (int i = 1; i < s.Count; i++) longest = TimeSpan.FromTicks(Math.Max(longest.Ticks, (s[i].At - s[i - 1].At).Ticks));
        return longest;
    }

    /// <summary>
    /// Each run of samples above <paramref name="budget"/>: at least from its first to its last sample above
    /// (<c>AtLeast</c>), at most from the sample before it to the sample after it (<c>AtMost</c>).
    /// </summary>
    public List<(TimeSpan AtLeast, TimeSpan AtMost, long PeakBytes)> Excursions(long budget)
    {
        var s = Samples;
        var runs = new List<(TimeSpan, TimeSpan, long)>();
        for (int i = 0; i < s.Count; i++)
        {
            if (s[i].Rss <= budget) continue;
            int first = i;
            long peak = 0;
            while (i < s.Count && s[i].Rss > budget) peak = Math.Max(peak, s[i++].Rss);
            TimeSpan before = first > 0 ? s[first - 1].At : s[first].At;
            TimeSpan after = i < s.Count ? s[i].At : s[i - 1].At;
            runs.Add((s[i - 1].At - s[first].At, after - before, peak));
        }
        return runs;
    }

    /// <summary>Stops sampling (the samples stay readable).</summary>
    public void Dispose()
    {
        _stop = true;
        _thread.Join();
    }
}
