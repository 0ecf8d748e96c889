namespace GuestMemory.Fusion;

/// <summary>
/// Exact page figures of several sources of guest pages, counted one source after another: dump
/// files (<see cref="DumpAnalyzer"/>) or the RAM of running guests read in place. Every page is compared
/// by its full contents (<see cref="PageContentSet"/>), so no hash collision can change a count.
/// </summary>
/// <remarks>
/// Sources are counted whole, one after another: <see cref="BeginSource"/>, then its pages
/// (<see cref="AddPages"/>, <see cref="AddZeroPages"/>), then the next source; <see cref="Complete"/>
/// ends the last one and gives the figures. Not thread-safe: one thread feeds one census. Memory: one
/// copy of every distinct non-zero content (4 KiB each) plus a few bytes of bookkeeping.
/// </remarks>
public sealed class PageCensus
{
    private readonly PageContentSet _set = new();
    private readonly List<DumpFileFigures> _sources = [];
    private string? _current;
    private long _pages, _zero, _distinct;
    private bool _completed;

    /// <summary>Ends the current source (if any) and starts counting the pages of <paramref name="name"/>.</summary>
    /// <param name="name">What the source is (a dump's path, a guest's name); shown in the figures.</param>
    /// <exception cref="GmmException"><see cref="GmmError.InvalidArgument"/> after <see cref="Complete"/>.</exception>
    public void BeginSource(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (_completed) throw new GmmException(GmmError.InvalidArgument, "the census is complete; start a new one");
        EndSource();
        _current = name;
    }

    /// <summary>Counts whole 4 KiB pages of the current source.</summary>
    /// <exception cref="GmmException"><see cref="GmmError.InvalidArgument"/> when <paramref name="pages"/>
    /// is not a whole number of pages, or no source was begun.</exception>
    public void AddPages(ReadOnlySpan<byte> pages)
    {
        RequireSource();
        if ((pages.Length & Paging.PageOffsetMask) != 0)
            throw new GmmException(GmmError.InvalidArgument, $"{pages.Length} bytes are not a whole number of 4 KiB pages");
        int source = _sources.Count;
        for (int offset = 0; offset < pages.Length; offset += Paging.PageSize)
        {
            ReadOnlySpan<byte> page = pages.Slice(offset, Paging.PageSize);
            if (PageContent.IsZero(page)) _zero++;
            else if (_set.Add(page, source)) _distinct++;
        }
        _pages += pages.Length >> Paging.PageShift;
    }

    /// <summary>
    /// Counts <paramref name="count"/> pages of the current source that are known to be all zero without
    /// reading them (holes of a sparse file, RAM the guest never touched).
    /// </summary>
    /// <exception cref="GmmException"><see cref="GmmError.InvalidArgument"/> for a negative count, or when no source was begun.</exception>
    public void AddZeroPages(long count)
    {
        RequireSource();
        if (count < 0) throw new GmmException(GmmError.InvalidArgument, $"a page count cannot be negative ({count})");
        _pages += count;
        _zero += count;
    }

    /// <summary>Pages counted so far over all sources.</summary>
    public long PagesCounted => _sources.Sum(s => s.Figures.Pages) + _pages;

    /// <summary>
    /// Ends the last source and returns the figures of each source and of all together (contents shared
    /// across sources count once in the total). The census takes no more pages afterwards.
    /// </summary>
    public DumpAnalysis Complete()
    {
        if (!_completed)
        {
            EndSource();
            _completed = true;
        }
        var total = new PageFigures(_sources.Sum(f => f.Figures.Pages), _sources.Sum(f => f.Figures.ZeroPages), _set.Count);
        return new DumpAnalysis(_sources.ToArray(), total, _set.SeenInSeveralSources);
    }

    private void EndSource()
    {
        if (_current == null) return;
        _sources.Add(new DumpFileFigures(_current, new PageFigures(_pages, _zero, _distinct)));
        (_current, _pages, _zero, _distinct) = (null, 0, 0, 0);
    }

    private void RequireSource()
    {
        if (_current == null)
            throw new GmmException(GmmError.InvalidArgument, _completed ? "the census is complete; start a new one" : "begin a source before adding its pages");
    }
}
