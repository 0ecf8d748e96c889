using System.CommandLine;
using GuestMemory.Benchmarks;
using GuestMemory.Cli.Output;
using Spectre.Console;

namespace GuestMemory.Cli.Commands;

/// <summary><c>gmm bench state</c>: save and restore speed and saved size of a VM with realistic content, beside a plain dump.</summary>
internal static class BenchStateCommand
{
    public static Command Create()
    {
        Option<bool> json = BenchCommand.JsonOption();
        var ram = new Option<int>("--ram-mib") { Description = "Guest RAM of the saved VM, MiB", DefaultValueFactory = _ => 1024 };
        var runs = new Option<int>("--runs") { Description = "Timed runs of the save and of the restore (the best counts)", DefaultValueFactory = _ => 3 };
        var sink = new Option<string>("--sink") { Description = "Where the state goes: memory (a preallocated MemoryStream) or file (the temp directory)", DefaultValueFactory = _ => "memory" };
        var noGzip = new Option<bool>("--no-gzip") { Description = "Skip gzip of the plain dump (it takes seconds)" };
        var seed = new Option<int>("--seed") { Description = "Random seed of the content", DefaultValueFactory = _ => 1 };
        ram.Within(64, 2048);
        runs.Within(1, 20);
        sink.AcceptOnlyFromAmong("memory", "file");
        var state = new Command("state", "Save a VM (half zero pages, a tenth shared, the rest random) and restore it into a fresh VM; compare the size with a plain dump")
        {
            json, ram, runs, sink, noGzip, seed,
        };
        state.SetAction(p => Run(p.GetValue(json), p.GetValue(ram), p.GetValue(runs), p.GetValue(sink) == "file", !p.GetValue(noGzip), p.GetValue(seed)));
        return state;
    }

    private static int Run(bool json, int ramMib, int runs, bool toFile, bool gzip, int seed)
    {
        StateFigures f = StateBench.Run(ramMib, runs, toFile, gzip, seed);
        if (json)
        {
            BenchJson.Write("state", CliJson.Node(f).AsObject());
            return f.Verified ? 0 : 1;
        }
        var table = new Table().Title($"Saved state of a {ramMib} MiB VM ({f.Sink} sink, best of {f.Runs} runs)").AddColumns("figure", "value", "target", "met");
        Row(table, "save (GB of guest RAM / s)", f.SaveGbps, ">= 0.5", f.SaveGbps >= 0.5);
        Row(table, "restore into a fresh VM (GB of guest RAM / s)", f.RestoreGbps, ">= 0.5", f.RestoreGbps >= 0.5);
        Row(table, "state bytes per guest byte", f.FileBytesPerGuestByte, "<= 0.55", f.FileBytesPerGuestByte <= 0.55);
        Row(table, "plain dump bytes per guest byte", f.PlainDumpBytesPerGuestByte, "peer", null);
        if (gzip) Row(table, $"plain dump + gzip bytes per guest byte ({f.GzipSeconds:0.0} s)", f.GzipPlainDumpBytesPerGuestByte, "peer", null);
        Row(table, "plain dump read (GB / s)", f.PlainDumpGbps, "peer", null);
        table.AddRow("pages: zero / raw / shared contents / shared refs", $"{f.ZeroPages:N0} / {f.RawPages:N0} / {f.SharedContents:N0} / {f.SharedReferences:N0}", "", "");
        table.AddRow("restored onto shared pages the host had", $"{f.RestoredSharedPages:N0}", "", "");
        table.AddRow("restored memory equals saved, Verify clean", f.Verified ? "[green]yes[/]" : "[red]no[/]", "yes", f.Verified ? "[green]yes[/]" : "[red]no[/]");
        CliConsole.Out.Write(table);
        return f.Verified ? 0 : 1;
    }

    private static void Row(Table table, string figure, double value, string target, bool? met) =>
        table.AddRow(figure, $"{value:0.000}", target, met switch { true => "[green]yes[/]", false => "[red]no[/]", null => "" });
}
