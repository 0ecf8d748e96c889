using System.Net;
using System.Text;
using GuestMemory.Cli.Report;

namespace GuestMemory.Cli.Commands.Qemu;

/// <summary>
/// The HTML report of <c>gmm qemu run --budget-mib B --report F</c>: the guests' resident RAM against the
/// budget and what they were promised, and each guest's balloon over time (the demo's plots, for real guests).
/// </summary>
internal static class QemuRunReport
{
    private const double Mib = 1024.0 * 1024;
    private static readonly string[] GuestColours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

    public static void Write(string path, QemuRunSettings settings, IReadOnlyList<QemuBalloonSample> samples, string kernel, string accelerator)
    {
        var html = new StringBuilder();
        html.Append("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>gmm qemu run report</title><style>")
            .Append("body{font-family:system-ui,sans-serif;max-width:1010px;margin:2em auto;color:#222;padding:0 1em}.note{color:#555}")
            .Append("svg{display:block;max-width:100%;height:auto;margin:1em 0}</style></head><body><h1>Real QEMU guests under GuestMemory's balloon controller</h1>");
        html.Append($"<p class=\"note\">{DateTime.Now:yyyy-MM-dd HH:mm} · {settings.Vms} guests × {settings.RamBytes >> 20} MiB · budget {settings.BudgetBytes >> 20} MiB of resident guest RAM · " +
                    $"kernel {Enc(kernel)} · {Enc(accelerator)} · {samples.Count} samples, one a second</p>");
        html.Append("<p>The budget limits the guests' resident RAM: the pages of their memfds that hold data. The controller sets each guest's balloon " +
                    "(QMP <code>balloon</code>) from the guests' own statistics and the resident RAM, taking idle memory (page cache, free pages) first. " +
                    "Each QEMU's own memory (its code, device state, translation cache) is outside the budget and shown beside it.</p>");
        html.Append(SvgLineChart.Render("Resident guest RAM against the budget and the promise", "seconds", "MiB",
        [
            Series("guest RAM promised", "#8c8c8c", samples, s => s.PromisedBytes / Mib, dashed: true),
            Series("budget", "#99000d", samples, s => s.BudgetBytes / Mib, dashed: true),
            Series("resident guest RAM (memfds)", "#08306b", samples, s => s.ResidentBytes / Mib),
            Series("QEMU processes' RSS", "#00734d", samples, s => s.QemuRssBytes / Mib),
        ]));
        string[] names = samples.Count == 0 ? [] : samples[0].Rows.Select(r => r.Name).ToArray();
        html.Append(SvgLineChart.Render("Each guest's balloon (RAM taken from it)", "seconds", "MiB",
            names.Select((n, i) => Series(n, GuestColours[i % GuestColours.Length], samples, s => Balloon(s, n) / Mib)).ToArray()));
        html.Append(SvgLineChart.Render("Each guest's RAM: target (dashed) and actual", "seconds", "MiB",
            names.SelectMany((n, i) => new[]
            {
                Series($"{n} target", GuestColours[i % GuestColours.Length], samples, s => Row(s, n)?.TargetBytes / Mib ?? 0, dashed: true),
                Series($"{n} actual", GuestColours[i % GuestColours.Length], samples, s => Row(s, n)?.ActualBytes / Mib ?? 0),
            }).ToArray()));
        html.Append("</body></html>");
        File.WriteAllText(path, html.ToString());
    }

    private static QemuBalloonRow? Row(QemuBalloonSample s, string name) => s.Rows.FirstOrDefault(r => r.Name == name);

    private static double Balloon(QemuBalloonSample s, string name) =>
        Row(s, name) is QemuBalloonRow r && r.ActualBytes > 0 ? r.RamBytes - r.ActualBytes : 0;

    private static SvgLineChart.Series Series(string name, string colour, IReadOnlyList<QemuBalloonSample> samples, Func<QemuBalloonSample, double> y, bool dashed = false) =>
        new(name, colour, samples.Select(s => (s.Seconds, y(s))).ToArray(), dashed);

    private static string Enc(string text) => WebUtility.HtmlEncode(text);
}
