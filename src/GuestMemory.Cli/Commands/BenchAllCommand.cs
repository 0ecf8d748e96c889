using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using GuestMemory.Cli.Output;

namespace GuestMemory.Cli.Commands;

/// <summary>
/// <c>gmm bench all</c>: runs every whole-system benchmark, each in a process of its own (so one
/// benchmark's memory never shows in another's RSS figures), and writes <c>bench-results.json</c> (a
/// document of gmm's one JSON shape whose items are the benchmarks' own documents) and a Markdown table
/// with the machine the figures came from and each target met or not.
/// </summary>
internal static class BenchAllCommand
{
    /// <summary>The benchmarks in the order they run, with the arguments they run with.</summary>
    private static readonly (string Name, string[] Args)[] Benches =
    [
        ("alloc", ["bench", "alloc", "--json"]),
        ("access", ["bench", "access", "--json"]),
        ("fusion", ["bench", "fusion", "--json"]),
        ("balloon", ["bench", "balloon", "--json"]),
        ("state", ["bench", "state", "--json", "--no-gzip"]),
        ("compaction", ["bench", "compaction", "--json"]),
        ("migrate", ["bench", "migrate", "--json"]),
    ];

    public static Command Create()
    {
        var output = new Option<string>("--output") { Description = "Where to write the results (JSON; a .md table goes beside it)", DefaultValueFactory = _ => "bench-results.json" };
        var only = new Option<string[]>("--only") { Description = "Run only these benchmarks (names: " + string.Join(", ", Benches.Select(b => b.Name)) + ")", AllowMultipleArgumentsPerToken = true };
        only.Validators.Add(r =>
        {
            foreach (string name in r.GetValueOrDefault<string[]>() ?? [])
                if (!Benches.Any(b => b.Name == name)) r.AddError($"no benchmark named '{name}'");
        });
        Option<bool> json = BenchCommand.JsonOption();
        var all = new Command("all", "Run every benchmark, each in its own process, and write bench-results.json and bench-results.md") { output, only, json };
        all.SetCancellableRun((p, cancel) => Run(p.GetValue(output)!, p.GetValue(only) ?? [], p.GetValue(json), cancel));
        return all;
    }

    private static int Run(string output, string[] only, bool json, CancellationToken cancel)
    {
        string jsonPath = OutputPath.CheckFile(output, "results");
        string markdownPath = OutputPath.CheckFile(Path.ChangeExtension(output, ".md"), "results table");
        var documents = new JsonArray();
        var targets = new JsonArray();
        var failed = new JsonArray();
        foreach ((string name, string[] args) in Benches.Where(b => only.Length == 0 || only.Contains(b.Name)))
        {
            if (!json) CliConsole.Err.Line($"[bold]bench {name}[/] ...");
            var clock = Stopwatch.StartNew();
            (int exit, string stdout, string stderr) = RunSelf(args, cancel);
            cancel.ThrowIfCancellationRequested();
            if (exit != 0 || Parse(stdout) is not JsonObject document || document["targets"] is not JsonArray benchTargets)
            {
                failed.Add(name);
                ErrorReport.Write(new CliFailure(nameof(CliError.BenchmarkFailed), $"bench {name} failed (exit {exit}): {Last(stderr + stdout)}"));
                continue;
            }
            documents.Add(document);
            foreach (JsonNode? target in benchTargets)
            {
                JsonObject row = target!.AsObject().DeepClone().AsObject();
                row.Insert(0, "bench", name);
                targets.Add(row);
            }
            if (!json) CliConsole.Err.Line($"  done in {clock.Elapsed.TotalSeconds:0.0} s");
        }
        var result = new JsonObject { ["date"] = DateTime.UtcNow.ToString("u", CultureInfo.InvariantCulture), ["machine"] = Machine(), ["failed"] = failed };
        JsonObject all = CliJson.Result("bench all", result, documents, targets);
        File.WriteAllText(jsonPath, CliJson.Text(all));
        string markdown = Markdown(result, targets);
        File.WriteAllText(markdownPath, markdown);
        if (json) CliJson.WriteOut(all);
        else
        {
            CliConsole.Out.Write(new Spectre.Console.Text(markdown));
            CliConsole.Out.Line($"Wrote {jsonPath} and {markdownPath}");
        }
        return failed.Count == 0 ? 0 : CommandRunner.TypedError;
    }

    /// <summary>Runs this same gmm with other arguments (through the dotnet host when that is how it runs); Ctrl+C ends it.</summary>
    private static (int Exit, string Stdout, string Stderr) RunSelf(string[] args, CancellationToken cancel)
    {
        string self = Environment.ProcessPath ?? "dotnet";
        var start = new ProcessStartInfo(self) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") start.ArgumentList.Add(typeof(BenchAllCommand).Assembly.Location);
        foreach (string arg in args) start.ArgumentList.Add(arg);
        using Process process = Process.Start(start)!;
        using CancellationTokenRegistration stop = cancel.Register(() => process.Kill(entireProcessTree: true));
        Task<string> stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout, stderr.Result);
    }

    /// <summary>The benchmark's JSON document, or null when its output is not one.</summary>
    private static JsonObject? Parse(string stdout)
    {
        try { return JsonNode.Parse(stdout) as JsonObject; }
        catch (JsonException) { return null; }
    }

    private static string Last(string text) => text.Trim().Split('\n').LastOrDefault()?.Trim() ?? "";

    private static JsonObject Machine() => new()
    {
        ["cpu"] = File.Exists("/proc/cpuinfo") ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() : RuntimeInformation.ProcessArchitecture.ToString(),
        ["cores"] = Environment.ProcessorCount,
        ["memory_gib"] = Math.Round(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (double)(1L << 30), 1),
        ["os"] = RuntimeInformation.OSDescription,
        ["runtime"] = RuntimeInformation.FrameworkDescription,
    };

    private static string Markdown(JsonObject result, JsonArray targets)
    {
        var md = new StringBuilder();
        JsonNode machine = result["machine"]!;
        md.AppendLine(CultureInfo.InvariantCulture, $"Measured {result["date"]} on {machine["cpu"]}, {machine["cores"]} cores, {machine["memory_gib"]} GiB, {machine["os"]}, {machine["runtime"]}.");
        md.AppendLine();
        md.AppendLine("| benchmark | target | measured | met |");
        md.AppendLine("|---|---|---|---|");
        foreach (JsonNode? node in targets)
        {
            JsonObject t = node!.AsObject();
            string measured = t["measured"] is JsonValue v ? $"{v.GetValue<double>().ToString("0.###", CultureInfo.InvariantCulture)} {t["unit"]}".Trim() : "missing";
            md.AppendLine(CultureInfo.InvariantCulture, $"| {t["bench"]} | {t["target"]} | {measured} | {(t["met"]!.GetValue<bool>() ? "yes" : "**no**")} |");
        }
        return md.ToString();
    }
}
