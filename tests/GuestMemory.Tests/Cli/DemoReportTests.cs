using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Cli;

/// <summary>
/// The demo's HTML report as a person sees it. Its structure: the plots' axes fit the data (the x axis
/// ends at the last sample, the y axis is not twice the highest value), the run's events are marked
/// with labels, and no plot colour is a VM's colour in the chunk maps. And in a real browser (Debian's
/// Chromium, headless): the page renders without console errors, every SVG has a size, and the chunk
/// maps are drawn at full size, so their titles and legends stay legible.
/// </summary>
public sealed class DemoReportTests : IClassFixture<DemoReportTests.Report>
{
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";
    private readonly Report _report;

    public DemoReportTests(Report report) => _report = report;

    [Fact]
    public void The_plots_fit_their_axes_to_the_data_and_mark_the_events()
    {
        XElement[] charts = [.. _report.Svgs.Take(2)];
        foreach (XElement chart in charts)
        {
            (double left, double right, double top, double bottom) = PlotArea(chart);
            double[][] lines = [.. chart.Descendants(Svg + "polyline").Where(l => l.Attribute("stroke-dasharray") == null).Select(Points)];
            double highest = lines.SelectMany(l => l.Where((_, i) => i % 2 == 1)).Min(); // smallest pixel y
            double rightmost = lines.SelectMany(l => l.Where((_, i) => i % 2 == 0)).Max();
            Assert.True(rightmost >= right - 1, $"the x axis runs past the data: last point at {rightmost}, axis ends at {right}");
            Assert.True(highest <= top + (bottom - top) / 2, $"the y axis is more than twice the highest value: highest point at {highest} in {top}..{bottom}");
            string[] labels = [.. chart.Descendants(Svg + "g").Where(g => (string?)g.Attribute("class") == "marker").Select(g => g.Element(Svg + "text")!.Value)];
            Assert.Contains(labels, l => l.Contains("shuts down", StringComparison.Ordinal));
            Assert.Contains("compaction", labels);
            Assert.Contains(labels, l => l.Contains("saved", StringComparison.Ordinal));
            Assert.Contains(labels, l => l.Contains("moves", StringComparison.Ordinal));
        }
        Assert.Contains(charts[0].Descendants(Svg + "text"), t => t.Value.Contains("guests' data", StringComparison.Ordinal));
    }

    [Fact]
    public void No_plot_colour_is_a_vm_colour_of_the_chunk_maps()
    {
        const string shared = "#222222"; // shared pages: black in the maps and in the plot, one meaning
        string[] plotColours = [.. _report.Svgs.Take(2).SelectMany(c => c.Descendants(Svg + "polyline")).Select(l => (string)l.Attribute("stroke")!).Distinct()];
        string[] mapColours = [.. _report.Svgs.Skip(2).SelectMany(m => m.Descendants(Svg + "rect")).Select(r => (string?)r.Attribute("fill")).OfType<string>().Distinct()];

        Assert.Equal(plotColours.Length, plotColours.Distinct(StringComparer.OrdinalIgnoreCase).Count());
        foreach (string colour in plotColours.Where(c => c != shared)) Assert.DoesNotContain(colour, mapColours, StringComparer.OrdinalIgnoreCase);
        Assert.Equal(7, plotColours.Length); // four lines over host memory, three over where pages went
    }

    [Fact]
    public void Chromium_renders_the_report_with_full_size_chunk_maps_and_no_console_errors()
    {
        string chromium = DebianTool.Require("chromium", "chromium");
        // A copy of the report that writes each SVG's rendered size into the page, which --dump-dom then shows.
        string probe = Path.Combine(_report.Directory, "probe.html");
        File.WriteAllText(probe, _report.Html.Replace("</body>",
            "<script>document.body.dataset.sizes=[...document.querySelectorAll('svg')].map(s=>{const r=s.getBoundingClientRect();return r.width+'x'+r.height}).join(' ')</script></body>",
            StringComparison.Ordinal));
        string screenshot = Path.Combine(_report.Directory, "report.png");

        (string dom, string log) = RunChromium(chromium, "--dump-dom", "--window-size=1200,2400", $"file://{probe}"); // a window of ordinary width
        (_, string shotLog) = RunChromium(chromium, $"--screenshot={screenshot}", "--window-size=1200,2400", $"file://{_report.Path}");

        Match sizes = Regex.Match(dom, "data-sizes=\"([^\"]*)\"");
        Assert.True(sizes.Success, $"the page did not run its probe: {log}");
        (double Width, double Height)[] rendered = [.. sizes.Groups[1].Value.Split(' ').Select(Size)];
        Assert.Equal(_report.Svgs.Length, rendered.Length);
        Assert.All(rendered, r => Assert.True(r.Width > 100 && r.Height > 100, $"an SVG rendered at {r.Width} x {r.Height}"));
        for (int i = 2; i < rendered.Length; i++) // the chunk maps: drawn at (nearly) their own width, not squeezed
            Assert.True(rendered[i].Width >= 0.95 * double.Parse((string)_report.Svgs[i].Attribute("width")!, CultureInfo.InvariantCulture), $"chunk map {i - 1} squeezed to {rendered[i].Width} px");
        Assert.DoesNotContain("CONSOLE", log + shotLog);
        Assert.True(new FileInfo(screenshot).Length > 50_000, "the screenshot is (nearly) empty");
    }

    private static (double, double, double, double) PlotArea(XElement chart)
    {
        XElement[] axes = [.. chart.Elements(Svg + "line").Where(l => (string?)l.Attribute("stroke") == "#333")];
        double N(XElement e, string name) => double.Parse((string)e.Attribute(name)!, CultureInfo.InvariantCulture);
        XElement vertical = axes.Single(a => N(a, "x1") == N(a, "x2")), horizontal = axes.Single(a => N(a, "y1") == N(a, "y2"));
        return (N(horizontal, "x1"), N(horizontal, "x2"), N(vertical, "y1"), N(vertical, "y2"));
    }

    private static double[] Points(XElement polyline) =>
        [.. ((string)polyline.Attribute("points")!).Split(' ', ',').Select(v => double.Parse(v, CultureInfo.InvariantCulture))];

    private static (double, double) Size(string text)
    {
        string[] parts = text.Split('x');
        return (double.Parse(parts[0], CultureInfo.InvariantCulture), double.Parse(parts[1], CultureInfo.InvariantCulture));
    }

    private static (string Stdout, string Stderr) RunChromium(string chromium, params string[] arguments)
    {
        var start = new ProcessStartInfo(chromium) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in (string[])["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                                        "--disable-component-update", "--disable-sync", "--enable-logging=stderr", "--v=0",
                                        $"--user-data-dir={Directory.CreateTempSubdirectory("gmm-chromium-").FullName}", .. arguments])
            start.ArgumentList.Add(a);
        using Process process = Process.Start(start)!;
        Task<string> errors = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(GmmProcess.Timeout)) process.Kill(entireProcessTree: true);
        Assert.True(process.ExitCode == 0, $"chromium failed (exit {process.ExitCode}): {errors.Result}");
        return (output, errors.Result);
    }

    /// <summary>One short demo run's report, shared by the tests of this class.</summary>
    public sealed class Report : IDisposable
    {
        public Report()
        {
            Directory = System.IO.Directory.CreateTempSubdirectory("gmm-report-").FullName;
            Path = System.IO.Path.Combine(Directory, "report.html");
            GmmProcess.Run(0, "demo", "--vms", "3", "--ram-mib", "48", "--image-mib", "8", "--duration", "4", "--seed", "2", "--no-live", "--report", Path);
            Html = File.ReadAllText(Path);
            Svgs = [.. Regex.Matches(Html, "<svg.*?</svg>", RegexOptions.Singleline).Select(m => XElement.Parse(m.Value))];
        }

        public string Directory { get; }
        public string Path { get; }
        public string Html { get; }
        public XElement[] Svgs { get; }

        public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);
    }
}
