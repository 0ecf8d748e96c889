using GuestMemory.Fusion;
using GuestMemory.Qemu;
using Spectre.Console;

namespace GuestMemory.Cli.Commands.Qemu;

/// <summary>One refresh of <c>gmm qemu run</c>: each guest's process and memory figures, and the live page analysis of all.</summary>
internal sealed record QemuRunSample(TimeSpan Elapsed, IReadOnlyList<QemuRunRow> Rows, LiveFigures Live)
{
    /// <summary>The balloon controller's figures, with <c>--budget-mib</c>.</summary>
    public QemuBalloonSample? Balloon { get; init; }

    /// <summary>Time the scan took (the refresh waits the rest of the second).</summary>
    public TimeSpan ScanTime => Live.Elapsed;

    public static async Task<QemuRunSample> TakeAsync(IReadOnlyList<QemuGuest> guests, bool exact, TimeSpan elapsed, CancellationToken cancel)
    {
        QemuGuest[] running = guests.Where(g => g.State != GuestState.Exited).ToArray();
        LiveFigures live = exact && running.Length == guests.Count
            ? await LiveAnalysis.AnalyzeAsync(guests, exact: true, cancel)
            : await Task.Run(() => LiveAnalysis.Analyze(guests.Select(g => g.Ram!).ToArray(), cancel), cancel);
        var rows = guests.Select((g, i) => new QemuRunRow(g.Name, g.State, g.Options.RamBytes, g.QemuRssBytes, g.Ram!.ResidentBytes, live.Figures.Files[i].Figures)).ToArray();
        return new QemuRunSample(elapsed, rows, live);
    }
}

/// <summary>One guest's line of the table.</summary>
internal sealed record QemuRunRow(string Name, GuestState State, long RamBytes, long? QemuRssBytes, long ResidentBytes, PageFigures Pages);

/// <summary>How <c>gmm qemu run</c> shows a sample: a live table, or one line per guest and second when output is not a terminal.</summary>
internal static class QemuRunView
{
    public static Spectre.Console.Rendering.IRenderable Table(QemuRunSample s)
    {
        PageFigures all = s.Live.Figures.Total;
        var table = new Table().Border(TableBorder.Rounded)
            .Title($"gmm qemu run · {s.Elapsed.TotalSeconds:0} s · {s.Rows.Count} guests")
            .AddColumns("guest", "state", "RAM", "QEMU RSS", "memfd resident", "zero pages", "distinct non-zero", "saved by perfect sharing");
        foreach (QemuRunRow r in s.Rows)
            table.AddRow(r.Name, State(r.State), Mib(r.RamBytes), r.QemuRssBytes is long rss ? Mib(rss) : "-", Mib(r.ResidentBytes),
                $"{r.Pages.ZeroPages:N0}", $"{r.Pages.DistinctNonZeroPages:N0}", $"{r.Pages.SavingsPct:F1}%");
        table.AddRow("[bold]all[/]", "", Mib(s.Rows.Sum(r => r.RamBytes)), Mib(s.Rows.Sum(r => r.QemuRssBytes ?? 0)), Mib(s.Rows.Sum(r => r.ResidentBytes)),
            $"{all.ZeroPages:N0}", $"{all.DistinctNonZeroPages:N0}", $"[bold]{all.SavingsPct:F1}%[/]");
        table.Caption($"{s.Live.Figures.DistinctInSeveralFiles:N0} contents are in more than one guest · scan {s.Live.Elapsed.TotalMilliseconds:N0} ms, {s.Live.BytesRead >> 20} MiB read, {s.Live.HolePages:N0} untouched pages skipped");
        return s.Balloon is QemuBalloonSample b ? new Rows(table, QemuRunBalloonView.Table(b)) : table;
    }

    public static string Line(QemuRunSample s)
    {
        PageFigures all = s.Live.Figures.Total;
        IEnumerable<string> guests = s.Rows.Select(r => $"{r.Name} {r.State.ToString().ToLowerInvariant()} rss {(r.QemuRssBytes is long rss ? Mib(rss) : "-")} resident {Mib(r.ResidentBytes)} zero {r.Pages.ZeroPages} distinct {r.Pages.DistinctNonZeroPages}");
        string line = $"{s.Elapsed.TotalSeconds,5:0}s {string.Join("; ", guests)}; all: zero {all.ZeroPages} distinct {all.DistinctNonZeroPages} saved {all.SavingsPct:F1}%";
        return s.Balloon is QemuBalloonSample b ? $"{line}; {QemuRunBalloonView.Line(b)}" : line;
    }

    private static string State(GuestState state) => state switch
    {
        GuestState.Running => "[green]running[/]",
        GuestState.Booting => "[yellow]booting[/]",
        _ => "[red]exited[/]",
    };

    private static string Mib(long bytes) => $"{bytes / (1024.0 * 1024):N0} MiB";
}
