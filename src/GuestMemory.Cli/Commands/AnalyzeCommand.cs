using System.CommandLine;
using System.Text.Json.Nodes;
using GuestMemory.Benchmarks;
using GuestMemory.Cli.Output;
using GuestMemory.Fusion;
using Spectre.Console;

namespace GuestMemory.Cli.Commands;

/// <summary>
/// <c>gmm analyze FILE...</c>: exact page figures of raw guest memory dumps, per file and for the whole
/// set, and the savings perfect zero-page plus sharing would give (see <see cref="PageFigures"/>). Only
/// regular files are read; a cut gzip stream is an error; a dump that is not whole pages is counted with
/// its last page padded, and said so.
/// </summary>
internal static class AnalyzeCommand
{
    public static Command Create()
    {
        var files = new Argument<string[]>("FILE") { Description = "Raw guest-physical memory dumps (pmemsave format), plain or gzip", Arity = ArgumentArity.OneOrMore };
        files.Validators.Add(r =>
        {
            // System.CommandLine hands an unknown option to the file argument; name it as what it is.
            foreach (var token in r.Tokens)
                if (token.Value.StartsWith('-') && !File.Exists(token.Value)) r.AddError($"Unrecognized option '{token.Value}'");
        });
        Option<bool> json = BenchCommand.JsonOption();
        var analyze = new Command("analyze", "Count 4 KiB pages, all-zero pages and distinct contents of memory dumps, exactly, and what sharing would save") { files, json };
        analyze.SetCancellableRun((p, cancel) => Run(p.GetValue(files)!, p.GetValue(json), cancel));
        return analyze;
    }

    private static int Run(string[] paths, bool json, CancellationToken cancel)
    {
        paths = DumpLocator.Resolve(paths);
        DumpAnalysis analysis = Analyze(paths, cancel);
        foreach (DumpFileFigures f in analysis.Files)
            if (f.Bytes % Paging.PageSize != 0)
                ErrorReport.Warning($"{f.Path} is {f.Bytes:N0} bytes, not a whole number of 4 KiB pages (a cut dump?): its last page was counted padded with zeros");
        if (json) CliJson.WriteOut(Json(analysis));
        else Print(analysis);
        return 0;
    }

    private static JsonObject Json(DumpAnalysis analysis)
    {
        JsonObject result = Figures(analysis.Total);
        result["files"] = analysis.Files.Count;
        result["distinct_in_several_files"] = analysis.DistinctInSeveralFiles;
        var items = new JsonArray();
        foreach (DumpFileFigures f in analysis.Files)
        {
            JsonObject row = Figures(f.Figures);
            row.Insert(0, "file", f.Path);
            row.Insert(1, "bytes", f.Bytes);
            items.Add(row);
        }
        return CliJson.Result("analyze", result, items);
    }

    private static JsonObject Figures(PageFigures f) => new()
    {
        ["pages"] = f.Pages,
        ["zero_pages"] = f.ZeroPages,
        ["distinct_nonzero_pages"] = f.DistinctNonZeroPages,
        ["perfect_host_pages"] = f.PerfectHostPages,
        ["savings_pct"] = Math.Round(f.SavingsPct, 2),
    };

    private static void Print(DumpAnalysis analysis)
    {
        var table = new Table().Title("Exact page figures (every page compared by its full contents)")
            .AddColumns("file", "pages", "all-zero", "distinct non-zero", "perfect savings");
        foreach (DumpFileFigures f in analysis.Files) AddRow(table, UserText.Cell(Path.GetFileName(f.Path)), f.Figures);
        if (analysis.Files.Count > 1) AddRow(table, new Markup("[bold]all together[/]"), analysis.Total);
        CliConsole.Out.Write(table);
        if (analysis.Files.Count > 1)
            CliConsole.Out.Line($"{analysis.DistinctInSeveralFiles:N0} distinct non-zero contents appear in more than one file.");
        CliConsole.Out.MarkupLine("[grey]savings = (pages − distinct non-zero pages − 1 for the zero page, if any page is zero) / pages[/]");
    }

    private static void AddRow(Table table, Spectre.Console.Rendering.IRenderable name, PageFigures f) =>
        table.AddRow(name, new Text($"{f.Pages:N0}"), new Text($"{f.ZeroPages:N0}"), new Text($"{f.DistinctNonZeroPages:N0}"), new Text($"{f.SavingsPct:F2}%"));

    private static DumpAnalysis Analyze(string[] paths, CancellationToken cancel)
    {
        if (!CliProgress.Shows) return DumpAnalyzer.Analyze(paths, null, cancel);
        long totalPages = paths.Sum(p => { using GuestDump d = GuestDump.Open(p); return d.PageHint; });
        return CliProgress.Steps(report => DumpAnalyzer.Analyze(paths, new InlineProgress<long>(done => report("reading dumps", done, totalPages)), cancel));
    }
}
