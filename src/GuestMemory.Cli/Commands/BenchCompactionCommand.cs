using System.CommandLine;
using System.Text.Json.Nodes;
using GuestMemory.Benchmarks;
using GuestMemory.Cli.Output;
using GuestMemory.Cli.Report;
using Spectre.Console;

namespace GuestMemory.Cli.Commands;

/// <summary>
/// <c>gmm bench compaction [--json] [--svg DIR] [--policy]</c>: VMs that started together are half destroyed and half
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
        var policy = new Option<bool>("--policy") { Description = "Also measure each page placement choice (VM affinity, shared chunks, fullest first) against its opposite" };
        vms.Within(2, 16);
        ram.Within(8, 4096);
        var command = new Command("compaction", "Fragment memory (VMs started together, half destroyed, half ballooned) and measure what compaction gives back to the host")
        {
            json, vms, ram, seed, svg, policy,
        };
        command.SetAction(p =>
        {
            string? svgDirectory = SvgDirectory(p.GetValue(svg));
            return Run(p.GetValue(json), svgDirectory, new CompactionBenchOptions
            {
                Vms = p.GetValue(vms), RamMib = p.GetValue(ram), Seed = p.GetValue(seed), ChunkMaps = svgDirectory != null, Placement = p.GetValue(policy),
            });
        });
        return command;
    }

    private static int Run(bool json, string? svgDirectory, CompactionBenchOptions options)
    {
        CompactionFigures f = CliProgress.Status("starting", status => CompactionBench.Run(options, new InlineProgress<BenchProgress>(p => status(p.Step))));
        if (svgDirectory != null) WriteChunkMaps(svgDirectory, f);
        if (json)
        {
            JsonObject all = CliJson.Node(f).AsObject();
            if (f.Placement != null)
                foreach ((string key, JsonNode? value) in CliJson.Node(f.Placement).AsObject()) all[key] = value?.DeepClone();
            BenchJson.Write("compaction", all);
            return 0;
        }
        var table = new Table()
            .Title($"Compaction: {f.Vms} VMs x {f.RamMib} MiB written interleaved, half destroyed, the rest balloon half their pages ({f.FreedMib:N0} MiB freed)")
            .AddColumns("figure", "seed policy (pages stay until compaction)", "eager policy (default: pages go back at once)", "target");
        table.AddRow("freed memory that left the process, without compaction", Pct(f.ReturnedPctWithout), Pct(f.EagerReturnedPctWithout), "");
        table.AddRow("freed memory that left the process, after one compaction run", Pct(f.ReturnedPctWith), Pct(f.EagerReturnedPctWith), ">= 99% (seed policy)");
        table.AddRow("chunks before -> after (minimum)", $"{f.ChunksBefore} -> {f.ChunksAfter} ({f.MinimumChunks})", $"{f.EagerChunksBefore} -> {f.EagerChunksAfter}", "");
        table.AddRow("pages moved / s", $"{f.MovedPagesPerSecond:N0} ({f.MovedPages:N0} in {f.CompactionMs:N0} ms)", $"{f.EagerMovedPagesPerSecond:N0}", "");
        CliConsole.Out.Write(table);
        if (f.Placement is { } pl) CliConsole.Out.Write(PlacementTable(pl));
        if (svgDirectory != null)
            CliConsole.Out.Line($"chunk maps: {Path.Combine(svgDirectory, "chunks-before.svg")}, {Path.Combine(svgDirectory, "chunks-after.svg")}");
        CliConsole.Out.MarkupLine("[grey]freed memory = host pages the Gmm stopped using x 4 KiB; left the process = fall of RSS from all VMs full (docs/benchmarks.md)[/]");
        return 0;
    }

    /// <summary>Writes the seed policy's chunk maps before and after compaction as SVG files.</summary>
    private static void WriteChunkMaps(string directory, CompactionFigures f)
    {
        Directory.CreateDirectory(directory);
        foreach ((string file, CompactionChunkMap? map) in new[] { ("chunks-before.svg", f.ChunkMapBefore), ("chunks-after.svg", f.ChunkMapAfter) })
            if (map != null) File.WriteAllText(Path.Combine(directory, file), ChunkMapSvg.Render(map.Title, map.Chunks, map.VmNames));
    }

    private static Table PlacementTable(PlacementFigures p)
    {
        var table = new Table().Title("Placement, seed policy, without compaction unless said: each choice (the default) against its opposite")
            .AddColumns("choice", "measure", "default", "opposite");
        table.AddRow("VM affinity / one free set", "destroyed VMs' memory back at their shutdown", Pct(p.AffinityShutdownPct), Pct(p.NoAffinityShutdownPct));
        table.AddRow("", "all freed memory back", Pct(p.AffinityReturnedPctWithout), Pct(p.NoAffinityReturnedPctWithout));
        table.AddRow("", "pages a compaction run moves", $"{p.AffinityMovedPages:N0}", $"{p.NoAffinityMovedPages:N0}");
        table.AddRow("shared chunks / creator's chunks", "RSS fall at the shutdown (a quarter of the pages shared)", $"{p.SharedChunksShutdownMib:N0} MiB", $"{p.MixedSharedShutdownMib:N0} MiB");
        table.AddRow("fullest / emptiest chunk first", "chunks beyond the minimum after rewrites", $"{p.FullestFirstExcessChunks}", $"{p.EmptiestFirstExcessChunks}");
        table.AddRow("", "pages a compaction run moves", $"{p.FullestFirstMovedPages:N0}", $"{p.EmptiestFirstMovedPages:N0}");
        return table;
    }

    /// <summary>The folder for the chunk maps, made now (so a folder that cannot be made fails before the benchmark runs).</summary>
    private static string? SvgDirectory(string? directory)
    {
        if (directory == null) return null;
        try { Directory.CreateDirectory(directory); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new CliException(CliError.IoError, $"cannot make the folder {directory} for the chunk maps: {e.Message}"); }
        return OutputPath.CheckDirectory(directory, "the chunk maps");
    }

    private static string Pct(double value) => $"{value:0.0}%";
}
