using System.Diagnostics;
using GuestMemory.Fusion;

namespace GuestMemory.Qemu;

/// <summary>What one live scan of running guests' RAM found, and what it cost.</summary>
/// <param name="Figures">Per guest and together, exactly what <c>gmm analyze</c> reports for dumps of the same bytes.</param>
/// <param name="BytesRead">Bytes copied out of the memfds (allocated extents only).</param>
/// <param name="HolePages">Pages never allocated in the memfds, counted as zero pages without reading.</param>
/// <param name="Elapsed">Wall time of the scan.</param>
public sealed record LiveFigures(DumpAnalysis Figures, long BytesRead, long HolePages, TimeSpan Elapsed);

/// <summary>
/// The live view of running guests: reads their RAM through the memfds this process owns (pread, so
/// nothing is allocated; extents the guest never touched are counted as zero pages without reading)
/// and counts pages with the core's <see cref="PageCensus"/>, the same counter <c>gmm analyze</c> uses on
/// dumps, so the figures of a paused guest equal the analysis of its <c>pmemsave</c> dump.
/// </summary>
/// <remarks>
/// Without pausing, a guest writes while it is read: a page may be counted as it was a moment before or
/// after (consistent enough for statistics, never torn below a byte). <see cref="AnalyzeAsync"/> with
/// <c>exact</c> stops every guest (QMP <c>stop</c>) for the scan and resumes the ones that were running.
/// Memory: one copy of every distinct non-zero page (the census's price for exactness).
/// </remarks>
public static class LiveAnalysis
{
    private const int BufferBytes = 1 << 20;

    /// <summary>Counts the pages of <paramref name="rams"/> (each a source named after its guest), without pausing anything.</summary>
    public static LiveFigures Analyze(IReadOnlyList<GuestRam> rams, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(rams);
        var clock = Stopwatch.StartNew();
        var census = new PageCensus();
        long read = 0, holes = 0;
        byte[] buffer = new byte[BufferBytes];
        foreach (GuestRam ram in rams)
        {
            census.BeginSource(ram.Name);
            (long r, long h) = Scan(ram, buffer, census.AddPages, census.AddZeroPages, cancel);
            read += r;
            holes += h;
        }
        return new LiveFigures(census.Complete(), read, holes, clock.Elapsed);
    }

    /// <summary>
    /// Counts the pages of running guests; with <paramref name="exact"/>, they are stopped for the scan
    /// (and the ones that were running are resumed, also when the scan fails).
    /// </summary>
    /// <exception cref="QemuException"><see cref="QemuError.InvalidArgument"/> for a guest with anonymous RAM;
    /// a QMP failure of stop/cont (a guest that died).</exception>
    public static async Task<LiveFigures> AnalyzeAsync(IReadOnlyList<QemuGuest> guests, bool exact, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(guests);
        GuestRam[] rams = guests.Select(g => g.Ram ?? throw new QemuException(QemuError.InvalidArgument, $"guest {g.Name} has anonymous RAM, which this process cannot read")).ToArray();
        if (!exact) return await Task.Run(() => Analyze(rams, cancel), cancel).ConfigureAwait(false);
        var stopped = new List<QemuGuest>();
        try
        {
            foreach (QemuGuest g in guests)
            {
                if (!(await g.Qmp.QueryStatusAsync(cancel).ConfigureAwait(false)).Running) continue;
                await g.Qmp.StopAsync(cancel).ConfigureAwait(false);
                stopped.Add(g);
            }
            return await Task.Run(() => Analyze(rams, cancel), cancel).ConfigureAwait(false);
        }
        finally
        {
            foreach (QemuGuest g in stopped)
            {
                try { await g.Qmp.ContAsync(CancellationToken.None).ConfigureAwait(false); }
                catch (QemuException) when (g.Exited.IsCompleted) { /* it died meanwhile: nothing to resume */ }
            }
        }
    }

    /// <summary>
    /// Reads every allocated extent of <paramref name="ram"/> and hands whole pages to <paramref name="pages"/>;
    /// the pages between extents go to <paramref name="zeroPages"/> as a count. Returns the bytes read and the hole pages.
    /// </summary>
    public static (long BytesRead, long HolePages) Scan(GuestRam ram, byte[] buffer, PagesAction pages, Action<long> zeroPages, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(ram);
        ArgumentNullException.ThrowIfNull(buffer);
        if (buffer.Length < Paging.PageSize || buffer.Length % Paging.PageSize != 0)
            throw new QemuException(QemuError.InvalidArgument, "the scan buffer must hold a whole number of pages");
        long offset = 0, read = 0, holes = 0;
        while (offset < ram.Size)
        {
            cancel.ThrowIfCancellationRequested();
            (long Start, long End)? extent = ram.NextData(offset);
            long start = extent == null ? ram.Size : extent.Value.Start & ~Paging.PageOffsetMask;
            long end = extent == null ? ram.Size : Math.Min(ram.Size, (extent.Value.End + Paging.PageOffsetMask) & ~Paging.PageOffsetMask);
            if (start > offset)
            {
                long hole = (start - offset) >> Paging.PageShift;
                zeroPages(hole);
                holes += hole;
                offset = start;
            }
            while (offset < end)
            {
                int want = (int)Math.Min(buffer.Length, end - offset);
                int n = ram.Read(offset, buffer.AsSpan(0, want));
                if (n < want) buffer.AsSpan(n, want - n).Clear(); // the RAM cannot shrink, but a short read must not leave old bytes
                pages(buffer.AsSpan(0, want));
                read += want;
                offset += want;
            }
        }
        return (read, holes);
    }

    /// <summary>Takes whole pages read from guest RAM.</summary>
    public delegate void PagesAction(ReadOnlySpan<byte> pages);
}
