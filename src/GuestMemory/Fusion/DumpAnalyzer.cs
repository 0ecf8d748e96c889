namespace GuestMemory.Fusion;

/// <summary>
/// Exact page figures of guest memory images: what perfect zero-page detection plus page sharing
/// could save (the upper bound for <see cref="PageFusion"/>). Every page is compared by its full
/// contents (<see cref="PageContentSet"/>, through <see cref="PageCensus"/>, which also counts pages
/// that are not in files), so no hash collision can change a count.
/// </summary>
public static class DumpAnalyzer
{
    private const int BufferPages = 256;

    /// <summary>Analyses each file and the whole set (contents shared across files count once in the total).</summary>
    /// <param name="paths">Raw or gzip-compressed dumps (see <see cref="GuestDump"/>).</param>
    /// <param name="progress">Told the pages read so far, after every 1 MiB.</param>
    /// <param name="cancel">Stops between two buffers.</param>
    public static DumpAnalysis Analyze(IReadOnlyList<string> paths, IProgress<long>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(paths);
        var census = new PageCensus();
        byte[] buffer = new byte[BufferPages * Paging.PageSize];
        long pagesDone = 0;
        var bytes = new long[paths.Count];
        int source = 0;
        foreach (string path in paths)
        {
            census.BeginSource(path);
            using GuestDump dump = GuestDump.Open(path);
            for (int n; (n = dump.ReadPages(buffer)) > 0;)
            {
                cancel.ThrowIfCancellationRequested();
                census.AddPages(buffer.AsSpan(0, n * Paging.PageSize));
                pagesDone += n;
                progress?.Report(pagesDone);
            }
            bytes[source++] = dump.Bytes;
        }
        DumpAnalysis analysis = census.Complete();
        return analysis with { Files = [.. analysis.Files.Select((f, i) => f with { Bytes = bytes[i] })] };
    }
}

/// <summary>Exact page counts of a set of guest pages, and what perfect zero-page plus sharing saves.</summary>
/// <param name="Pages">4 KiB pages.</param>
/// <param name="ZeroPages">Pages whose every byte is zero.</param>
/// <param name="DistinctNonZeroPages">Different contents among the other pages.</param>
public readonly record struct PageFigures(long Pages, long ZeroPages, long DistinctNonZeroPages)
{
    /// <summary>
    /// Host pages the set needs at best: one per distinct non-zero content, plus one zero page only if
    /// some page is all zero (a set without zero pages does not pay for one).
    /// </summary>
    public long PerfectHostPages => DistinctNonZeroPages + (ZeroPages > 0 ? 1 : 0);

    /// <summary>(pages − <see cref="PerfectHostPages"/>) / pages, in percent; 0 for an empty set.</summary>
    public double SavingsPct => Pages == 0 ? 0 : 100.0 * (Pages - PerfectHostPages) / Pages;
}

/// <summary>The figures of one dump file (or of one other source of a <see cref="PageCensus"/>).</summary>
/// <param name="Path">The file's path, or the name the source was begun with.</param>
/// <param name="Figures">Its pages.</param>
public sealed record DumpFileFigures(string Path, PageFigures Figures)
{
    /// <summary>The image's size in bytes (uncompressed; 0 for a source that is not a file); not a multiple of 4 KiB when its last page was padded with zeros.</summary>
    public long Bytes { get; init; }
}

/// <summary>What <see cref="DumpAnalyzer.Analyze"/> found.</summary>
/// <param name="Files">Per file, in the order given.</param>
/// <param name="Total">The whole set: a content that appears in several files counts once.</param>
/// <param name="DistinctInSeveralFiles">Distinct non-zero contents that appear in more than one file.</param>
public sealed record DumpAnalysis(IReadOnlyList<DumpFileFigures> Files, PageFigures Total, long DistinctInSeveralFiles);
