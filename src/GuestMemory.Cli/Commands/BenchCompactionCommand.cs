using System.CommandLine;
using System.Text.Json;
using GuestMemory.Benchmarks;
using Spectre.Console;

namespace GuestMemory.Cli.Commands;

/// <summary>
/// <c>gmm bench compaction [--json] [--svg DIR]</c>: VMs that started together are half destroyed and half
/// ballooned; how much of the freed memory leaves the process without and with one compaction run
/// (see <see cref="CompactionBench"/>; definitions in docs/benchmarks.md).
/// </summary>
internal static class BenchCompactionCommand
{
    public static Command Create()
    {
        Option<bool> json = BenchCommand.JsonOption();
        var vms = new Option<int>("--vms") { Description = "VMs started together; every second one is destroyed", DefaultValueFactory = _ => 4 };
        var ram = new Option<int>("--ram-mib") { Description = "Guest RAM per VM, MiB", DefaultValueFactory = _ => 256 };
        var seed = new Option<int>("--seed") { Description = "Random seed of the ballooned pages", DefaultValueFactory = _ => 1 };
        var svg = new Option<string>("--svg") { Description = "Write chunks-before.svg and chunks-after.svg (seed policy) into this directory" };
        vms.Validators.Add(r => { if (r.GetValueOrDefault<int>() is < 2 or > 16) r.AddError("--vms must be 2..16"); });
        ram.Validators.Add(r => { if (r.GetValueOrDefault<int>() is < 8 or > 4096) r.AddError("--ram-mib must be 8..4096"); });
        var command = new Command("compaction", "Fragment memory (VMs started together, half destroyed, half ballooned) and measure what compaction gives back to the host")
        {
            json, vms, ram, seed, svg,
        };
        command.SetAction(p => Run(p.GetValue(json), new CompactionBenchOptions
        {
            Vms = p.GetValue(vms), RamMib = p.GetValue(ram), Seed = p.GetValue(seed), SvgDirectory = p.GetValue(svg),
        }));
        return command;
    }

    private static int Run(bool json, CompactionBenchOptions options)
    {
        CompactionFigures f = json ? CompactionBench.Run(options) : WithStatus(options);
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(f, new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        }
        var table = new Table()
            .Title($"Compaction: {f.Vms} VMs x {f.RamMib} MiB written interleaved, half destroyed, the rest balloon half their pages ({f.FreedMib:N0} MiB freed)")
            .AddColumns("figure", "seed policy (pages stay until compaction)", "eager policy (default: pages go back at once)", "target");
        table.AddRow("freed memory that left the process, without compaction", Pct(f.ReturnedPctWithout), Pct(f.EagerReturnedPctWithout), "");
        table.AddRow("freed memory that left the process, after one compaction run", Pct(f.ReturnedPctWith), Pct(f.EagerReturnedPctWith), ">= 99% (seed policy)");
        table.AddRow("chunks before -> after (minimum)", $"{f.ChunksBefore} -> {f.ChunksAfter} ({f.MinimumChunks})", $"{f.EagerChunksBefore} -> {f.EagerChunksAfter}", "");
        table.AddRow("pages moved / s", $"{f.MovedPagesPerSecond:N0} ({f.MovedPages:N0} in {f.CompactionMs:N0} ms)", $"{f.EagerMovedPagesPerSecond:N0}", "");
        AnsiConsole.Write(table);
        if (options.SvgDirectory != null)
            AnsiConsole.MarkupLineInterpolated($"chunk maps: {Path.Combine(options.SvgDirectory, "chunks-before.svg")}, {Path.Combine(options.SvgDirectory, "chunks-after.svg")}");
        AnsiConsole.MarkupLine("[grey]freed memory = pages the guests gave up x 4 KiB; left the process = fall of RSS from all VMs full (docs/benchmarks.md)[/]");
        return 0;
    }

    private static CompactionFigures WithStatus(CompactionBenchOptions options) =>
        AnsiConsole.Status().Start("starting", ctx => CompactionBench.Run(options, new InlineProgress<BenchProgress>(p => ctx.Status(p.Step))));

    private static string Pct(double value) => $"{value:0.0}%";
}
