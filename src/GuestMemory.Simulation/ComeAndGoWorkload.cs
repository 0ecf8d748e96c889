namespace GuestMemory.Simulation;

/// <summary>
/// A working set that comes and goes: idle phases at a low level and busy phases at a random level up to
/// a high one, each lasting a random time. It is the demand pattern over-commitment bets on: guests are
/// not all busy at once. Deterministic for a seed, so a scenario can be replayed.
/// </summary>
/// <remarks>Not thread-safe: the guest that runs it calls <see cref="PagesAt"/> from its own thread.</remarks>
public sealed class ComeAndGoWorkload
{
    private readonly Random _random;
    private readonly long _idlePages;
    private readonly long _busyPages;
    private readonly TimeSpan _minPhase;
    private readonly TimeSpan _maxPhase;
    private readonly List<(TimeSpan End, long Pages)> _phases = [];
    private int _cursor;

    /// <summary>Creates the schedule.</summary>
    /// <param name="seed">The random seed.</param>
    /// <param name="idlePages">Working set while idle.</param>
    /// <param name="busyPages">Largest working set while busy (each busy phase picks between the midpoint and this).</param>
    /// <param name="minPhase">Shortest phase.</param>
    /// <param name="maxPhase">Longest phase.</param>
    public ComeAndGoWorkload(int seed, long idlePages, long busyPages, TimeSpan minPhase, TimeSpan maxPhase)
    {
        if (idlePages < 0 || busyPages < idlePages) throw new GmmException(GmmError.InvalidArgument, $"need 0 <= idle ({idlePages}) <= busy ({busyPages}) pages");
        if (minPhase <= TimeSpan.Zero || maxPhase < minPhase) throw new GmmException(GmmError.InvalidArgument, $"need 0 < minPhase ({minPhase}) <= maxPhase ({maxPhase})");
        _random = new Random(seed);
        (_idlePages, _busyPages, _minPhase, _maxPhase) = (idlePages, busyPages, minPhase, maxPhase);
    }

    /// <summary>The working set, in pages, <paramref name="elapsed"/> after the guest booted.</summary>
    public long PagesAt(TimeSpan elapsed)
    {
        while (_phases.Count == 0 || _phases[^1].End <= elapsed) AddPhase();
        if (_cursor > 0 && elapsed < _phases[_cursor - 1].End) _cursor = 0; // asked about an earlier time
        while (_phases[_cursor].End <= elapsed) _cursor++;
        return _phases[_cursor].Pages;
    }

    private void AddPhase()
    {
        TimeSpan start = _phases.Count == 0 ? TimeSpan.Zero : _phases[^1].End;
        TimeSpan length = _minPhase + (_maxPhase - _minPhase) * _random.NextDouble();
        bool busy = _phases.Count % 2 == 1;
        long midpoint = (_idlePages + _busyPages) / 2;
        long pages = busy ? midpoint + (long)((_busyPages - midpoint) * _random.NextDouble()) : _idlePages;
        _phases.Add((start + length, pages));
    }
}
