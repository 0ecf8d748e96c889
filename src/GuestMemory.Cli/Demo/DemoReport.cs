using System.Net;
using System.Text;
using GuestMemory.Cli.Report;

namespace GuestMemory.Cli.Demo;

/// <summary>Writes the demo's self-contained HTML report: summary, plots over time and the chunk maps.</summary>
internal static class DemoReport
{
    private const double Mib = 1024.0 * 1024;

    public static void Write(string path, DemoRun run, DemoSettings settings, DemoSummary summary)
    {
        var html = new StringBuilder();
        html.Append("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>GuestMemory demo report</title><style>")
            .Append("body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;color:#222;padding:0 1em}")
            .Append("table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:left}")
            .Append("th{background:#f3f3f3}h2{margin-top:2em}.note{color:#555}svg{max-width:100%;height:auto}</style></head><body>");
        html.Append("<h1>GuestMemory demo</h1>");
        html.Append($"<p class=\"note\">{DateTime.Now:yyyy-MM-dd HH:mm} · {Environment.ProcessorCount} CPUs · {Enc(System.Runtime.InteropServices.RuntimeInformation.OSDescription)} · " +
                    $"{settings.Vms} VMs × ({settings.RamMib} MiB RAM + {settings.ImageMib} MiB OS image) · {settings.Seconds:0} s · seed {settings.Seed}</p>");
        html.Append("<p>Each VM holds the same OS image (real files of this machine's .NET runtime at page boundaries), its own data written by a guest workload that grows and shrinks, and pages it never touched. The host may use only part of what the VMs were promised: page fusion shares identical pages, zero pages cost nothing, the balloon controller keeps real RSS within the budget, and after one VM shuts down compaction gives its chunks back. At the end one VM is saved to a file and a copy started from it on a second host, and another moves there live while its guest writes, over TCP on loopback; both copies are checked page by page.</p>");
        html.Append("<h2>Summary</h2><table>");
        foreach ((string figure, string value) in summary.Rows()) html.Append($"<tr><th>{Enc(figure)}</th><td>{Enc(value)}</td></tr>");
        html.Append("</table>");

        html.Append("<h2>Host memory against the promise</h2>");
        html.Append(SvgLineChart.Render("Real RSS against guest RAM promised and the host budget", "seconds", "MiB",
        [
            Series("guest RAM promised", "#999999", run, s => s.PromisedBytes / Mib),
            Series("host budget (RSS)", "#e15759", run, s => s.BudgetBytes / Mib),
            Series("host RSS", "#4e79a7", run, s => s.RssBytes / Mib),
        ]));
        html.Append("<h2>Where guest pages went</h2>");
        html.Append(SvgLineChart.Render("Guest memory that needs no host page of its own", "seconds", "MiB",
        [
            Series("zero pages", "#59a14f", run, s => s.ZeroPages * Paging.PageSize / Mib),
            Series("saved by sharing", "#f28e2b", run, s => s.SavedBySharing * Paging.PageSize / Mib),
            Series("ballooned", "#b07aa1", run, s => s.BalloonedPages * Paging.PageSize / Mib),
        ]));
        if (run.ChunksBeforeShutdown != null && run.ChunksAfterShutdown != null)
        {
            html.Append($"<h2>Chunks when {Enc(run.ShutDownVm ?? "a VM")} shut down, and after compaction</h2>");
            html.Append("<p class=\"note\">One tile per 2 MiB chunk, one cell per 4 KiB page, coloured by owning VM; black cells are shared pages, grey ones free.</p>");
            html.Append(ChunkMapSvg.Render($"Before the shutdown: {run.ChunksBeforeShutdown.Count} chunks", run.ChunksBeforeShutdown, run.VmNames));
            html.Append(ChunkMapSvg.Render($"After the shutdown and compaction: {run.ChunksAfterShutdown.Count} chunks", run.ChunksAfterShutdown, run.VmNames));
        }
        html.Append("</body></html>");
        File.WriteAllText(path, html.ToString());
    }

    private static SvgLineChart.Series Series(string name, string colour, DemoRun run, Func<DemoSample, double> y) =>
        new(name, colour, run.Samples.Select(s => (s.Seconds, y(s))).ToArray());

    private static string Enc(string text) => WebUtility.HtmlEncode(text);
}
