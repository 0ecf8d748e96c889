using System.CommandLine;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace GuestMemory.Cli.Commands;

/// <summary>
/// <c>gmm bench all</c>: runs every whole-system benchmark, each in a process of its own (so one
/// benchmark's memory never shows in another's RSS figures), and writes <c>bench-results.json</c> and
/// a Markdown table with the machine the figures came from and each target met or not.
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
        var all = new Command("all", "Run every benchmark, each in its own process, and write bench-results.json and bench-results.md") { output, only };
        all.SetAction(p => Run(p.GetValue(output)!, p.GetValue(only) ?? []));
        return all;
    }

    private static int Run(string output, string[] only)
    {
        var results = new JsonObject();
        var failures = new List<string>();
        foreach ((string name, string[] args) in Benches.Where(b => only.Length == 0 || only.Contains(b.Name)))
        {
            AnsiConsole.MarkupLineInterpolated($"[bold]bench {name}[/] ...");
            var clock = Stopwatch.StartNew();
            (int exit, string stdout, string stderr) = RunSelf(args);
            if (exit != 0 || JsonNode.Parse(ExtractJson(stdout)) is not JsonObject figures)
            {
                failures.Add(name);
                AnsiConsole.MarkupLineInterpolated($"[red]  failed (exit {exit}): {Last(stderr + stdout)}[/]");
                continue;
            }
            results[name] = figures;
            AnsiConsole.MarkupLineInterpolated($"  done in {clock.Elapsed.TotalSeconds:0.0} s");
        }
        var document = new JsonObject
        {
            ["date"] = DateTime.UtcNow.ToString("u"),
            ["machine"] = Machine(),
            ["results"] = results,
        };
        File.WriteAllText(output, document.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        string markdown = Path.ChangeExtension(output, ".md");
        File.WriteAllText(markdown, Markdown(document, results));
        AnsiConsole.Write(new Markup(Markup.Escape(File.ReadAllText(markdown))));
        AnsiConsole.MarkupLineInterpolated($"Wrote {Path.GetFullPath(output)} and {Path.GetFullPath(markdown)}");
        return failures.Count == 0 ? 0 : 1;
    }

    /// <summary>Runs this same gmm with other arguments (through the dotnet host when that is how it runs).</summary>
    private static (int Exit, string Stdout, string Stderr) RunSelf(string[] args)
    {
        string self = Environment.ProcessPath ?? "dotnet";
        var start = new ProcessStartInfo(self) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") start.ArgumentList.Add(typeof(BenchAllCommand).Assembly.Location);
        foreach (string arg in args) start.ArgumentList.Add(arg);
        using Process process = Process.Start(start)!;
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout, stderr.Result);
    }

    /// <summary>The JSON object a benchmark printed (progress lines may come before it).</summary>
    private static string ExtractJson(string stdout)
    {
        int start = stdout.IndexOf('{');
        int end = stdout.LastIndexOf('}');
        return start >= 0 && end > start ? stdout[start..(end + 1)] : "null";
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

    private static string Markdown(JsonObject document, JsonObject results)
    {
        var md = new StringBuilder();
        JsonNode machine = document["machine"]!;
        md.AppendLine($"Measured {document["date"]} on {machine["cpu"]}, {machine["cores"]} cores, {machine["memory_gib"]} GiB, {machine["os"]}, {machine["runtime"]}.");
        md.AppendLine();
        md.AppendLine("| benchmark | target | measured | met |");
        md.AppendLine("|---|---|---|---|");
        foreach ((string name, JsonNode? node) in results)
        {
            if (node is not JsonObject figures) continue;
            foreach (BenchTargets.Target target in BenchTargets.For(name))
            {
                double? value = target.Measured(figures);
                bool met = value is double v && !double.IsNaN(v) && target.Met(v);
                md.AppendLine($"| {name} | {target.Text} | {(value is double m && !double.IsNaN(m) ? $"{m:0.###} {target.Unit}".Trim() : "missing")} | {(met ? "yes" : "**no**")} |");
            }
        }
        return md.ToString();
    }
}
