using System.Net;
using System.Text;
using GuestMemory.Cli.Report;

namespace GuestMemory.Cli.Demo;

/// <summary>
/// Writes the demo's self-contained HTML report: summary, plots over time with the run's events marked,
/// and the chunk maps at full size. The plots' colours (<see cref="PlotColours"/>) are never colours of a
/// VM in the maps, so one colour has one meaning on the page.
/// </summary>
internal static class DemoReport
{
    private const double Mib = 1024.0 * 1024;

    /// <summary>Chunks per row of a map: 10 make it 1,004 px wide, the width of the page's column.</summary>
    public const int MapTilesPerRow = 10;

    /// <summary>The plots' colours: none of them is a VM colour of <see cref="ChunkMapSvg"/> (shared pages are black in both).</summary>
    public static class PlotColours
    {
        public const string Promised = "#8c8c8c", Budget = "#99000d", Rss = "#08306b", GuestsUse = "#00734d";
        public const string Zero = "#7f3b08", Sharing = "#222222", Ballooned = "#7a0177";
    }

    public static void Write(string path, DemoRun run, DemoSettings settings, DemoSummary summary)
    {
        IReadOnlyList<DemoSample> samples = run.Samples;
        SvgLineChart.Marker[] markers = [.. run.Events.Select(e => new SvgLineChart.Marker(e.Seconds, e.Label))];
        var html = new StringBuilder();
        html.Append("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>GuestMemory demo report</title><style>")
            .Append("body{font-family:system-ui,sans-serif;max-width:1010px;margin:2em auto;color:#222;padding:0 1em}")
            .Append("table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:left}")
            .Append("th{background:#f3f3f3}h2{margin-top:2em}.note{color:#555}svg{display:block;max-width:100%;height:auto;margin:1em 0}</style></head><body>");
        html.Append("<h1>GuestMemory demo</h1>");
        html.Append($"<p class=\"note\">{DateTime.Now:yyyy-MM-dd HH:mm} · {Environment.ProcessorCount} CPUs · {Enc(System.Runtime.InteropServices.RuntimeInformation.OSDescription)} · " +
                    $"{settings.Vms} VMs × ({settings.RamMib} MiB RAM + {settings.ImageMib} MiB OS image) · {settings.Seconds:0} s · seed {settings.Seed}</p>");
        html.Append("<p>Each VM holds the same OS image (real files of this machine's .NET runtime at page boundaries), its own data written by a guest workload that grows and shrinks, and pages it never touched. The host may use only part of what the VMs were promised: page fusion shares identical pages, zero pages cost nothing, the balloon controller keeps real RSS within the budget, and after one VM shuts down compaction gives its chunks back. At the end one VM is saved to a file and a copy started from it on a second host, and another moves there live while its guest writes, over TCP on loopback; both copies are checked page by page.</p>");
        html.Append($"<p>The <b>host budget</b> is {settings.BudgetBytes >> 20} MiB of real RSS above what the process used before the VMs started (its baseline, {run.BaselineRss >> 20} MiB): guest pages may take {settings.GuestPagesLimitBytes >> 20} MiB of it, the other {DemoSettings.RuntimeSlackBytes >> 20} MiB is slack for the process's own growth while it runs (the manager's tables, guest threads, the live view).</p>");
        html.Append("<h2>Summary</h2><table>");
        foreach ((string figure, string value) in summary.Rows()) html.Append($"<tr><th>{Enc(figure)}</th><td>{Enc(value)}</td></tr>");
        html.Append("</table>");

        html.Append("<h2>Host memory against the promise</h2>");
        html.Append(SvgLineChart.Render("Real RSS against the promise, the budget and what the guests use", "seconds", "MiB",
        [
            Series("guest RAM promised", PlotColours.Promised, samples, s => s.PromisedBytes / Mib, dashed: true),
            Series("host budget", PlotColours.Budget, samples, s => s.BudgetBytes / Mib, dashed: true),
            Series("host RSS (above baseline)", PlotColours.Rss, samples, s => s.RssBytes / Mib),
            Series("guests' data + OS images", PlotColours.GuestsUse, samples, s => s.GuestUsedBytes / Mib),
        ], markers));
        html.Append("<p class=\"note\">\"Guests' data + OS images\" is what the running guests' workloads hold and their OS images: what they really use of what they were promised. RSS can stay below it because identical and zero pages need no host page of their own. After the run, the process also holds the second host (the restored copy and the moved VM), so its RSS rises past the first host's budget there.</p>");
        html.Append("<h2>Where guest pages went</h2>");
        html.Append(SvgLineChart.Render("Guest memory that needs no host page of its own", "seconds", "MiB",
        [
            Series("zero pages", PlotColours.Zero, samples, s => s.ZeroPages * Paging.PageSize / Mib),
            Series("saved by sharing", PlotColours.Sharing, samples, s => s.SavedBySharing * Paging.PageSize / Mib),
            Series("ballooned", PlotColours.Ballooned, samples, s => s.BalloonedPages * Paging.PageSize / Mib),
        ], markers));
        if (run.ChunksBeforeShutdown != null && run.ChunksAfterShutdown != null)
        {
            DemoChunks chunks = summary.Chunks;
            html.Append($"<h2>Chunks when {Enc(run.ShutDownVm ?? "a VM")} shut down, and after compaction</h2>");
            html.Append($"<p class=\"note\">One tile per 2 MiB chunk, one cell per 4 KiB page, coloured by owning VM (the same names as above); black cells are shared pages, grey ones free. " +
                        $"The maps show every chunk the manager held at two moments: {chunks.Before} just before the shutdown, {chunks.After} right after the compaction. " +
                        $"In between, {chunks.GivenBack} chunks went back to the host (\"chunks given back\" in the summary), while the guests still running kept writing and took {chunks.TakenMeanwhile} new ones.</p>");
            html.Append(ChunkMapSvg.Render($"Before the shutdown: {chunks.Before} chunks", run.ChunksBeforeShutdown, run.VmNames, MapTilesPerRow));
            html.Append(ChunkMapSvg.Render($"After the shutdown and compaction: {chunks.After} chunks", run.ChunksAfterShutdown, run.VmNames, MapTilesPerRow));
        }
        html.Append("</body></html>");
        File.WriteAllText(path, html.ToString());
    }

    private static SvgLineChart.Series Series(string name, string colour, IReadOnlyList<DemoSample> samples, Func<DemoSample, double> y, bool dashed = false) =>
        new(name, colour, samples.Select(s => (s.Seconds, y(s))).ToArray(), dashed);

    private static string Enc(string text) => WebUtility.HtmlEncode(text);
}
