using System.CommandLine;
using GuestMemory.Fusion;
using GuestMemory.Benchmarks;
using Spectre.Console;

namespace GuestMemory.Cli.Commands;

/// <summary>
/// <c>gmm analyze FILE...</c>: exact page figures of raw guest memory dumps, per file and for the whole
/// set, and the savings perfect zero-page plus sharing would give (see <see cref="PageFigures"/>).
/// </summary>
internal static class AnalyzeCommand
{
    public static Command Create()
    {
        var files = new Argument<string[]>("FILE") { Description = "Raw guest-physical memory dumps (pmemsave format), plain or gzip", Arity = ArgumentArity.OneOrMore };
        Option<bool> json = BenchCommand.JsonOption();
        var analyze = new Command("analyze", "Count 4 KiB pages, all-zero pages and distinct contents of memory dumps, exactly, and what sharing would save") { files, json };
        analyze.SetAction(p => Run(p.GetValue(files)!, p.GetValue(json)));
        return analyze;
    }

    private static int Run(string[] paths, bool json)
    {
        paths = DumpLocator.Resolve(paths);
        DumpAnalysis analysis = json ? DumpAnalyzer.Analyze(paths) : WithProgress(paths);
        if (json)
        {
            PageFigures t = analysis.Total;
            JsonOutput.Write([
                new("total_pages", t.Pages),
                new("zero_pages", t.ZeroPages),
                new("distinct_nonzero_pages", t.DistinctNonZeroPages),
                new("savings_pct", Math.Round(t.SavingsPct, 2)),
            ]);
            return 0;
        }
        var table = new Table().Title("Exact page figures (every page compared by its full contents)")
            .AddColumns("file", "pages", "all-zero", "distinct non-zero", "perfect savings");
        foreach (DumpFileFigures f in analysis.Files) AddRow(table, Path.GetFileName(f.Path), f.Figures);
        if (analysis.Files.Count > 1) AddRow(table, "[bold]all together[/]", analysis.Total);
        AnsiConsole.Write(table);
        if (analysis.Files.Count > 1)
            AnsiConsole.MarkupLine($"{analysis.DistinctInSeveralFiles:N0} distinct non-zero contents appear in more than one file.");
        AnsiConsole.MarkupLine("[grey]savings = (pages − distinct non-zero pages − 1 for the zero page, if any page is zero) / pages[/]");
        return 0;
    }

    private static void AddRow(Table table, string name, PageFigures f) =>
        table.AddRow(name, $"{f.Pages:N0}", $"{f.ZeroPages:N0}", $"{f.DistinctNonZeroPages:N0}", $"{f.SavingsPct:F2}%");

    private static DumpAnalysis WithProgress(string[] paths)
    {
        long totalPages = paths.Sum(p => { using GuestDump d = GuestDump.Open(p); return d.PageHint; });
        return AnsiConsole.Progress().Start(ctx =>
        {
            ProgressTask task = ctx.AddTask("reading dumps", maxValue: Math.Max(1, totalPages));
            DumpAnalysis result = DumpAnalyzer.Analyze(paths, new InlineProgress<long>(done => task.Value = done));
            task.Value = task.MaxValue;
            return result;
        });
    }
}
