using System.Text.Json.Nodes;
using GuestMemory.Benchmarks;
using GuestMemory.Cli.Output;
using Spectre.Console;

namespace GuestMemory.Cli.Commands;

/// <summary>The figures of <c>gmm bench fusion</c>: a side-by-side table, or the figures as a JSON result.</summary>
internal static class BenchFusionReport
{
    public static JsonObject Json(FusionBenchResult ours, KsmPeerResult? ksm)
    {
        var result = new JsonObject
        {
            ["savings_pct"] = Round(ours.SavingsPct),
            ["perfect_savings_pct"] = Round(ours.PerfectSavingsPct),
            ["passes"] = ours.Passes,
            ["converge_s"] = Round(ours.ConvergeSeconds, 3),
            ["cpu_s"] = Round(ours.CpuSeconds, 3),
            ["scan_gbps"] = Round(ours.ScanGbps),
            ["rss_before_mib"] = Mib(ours.RssBeforeBytes),
            ["rss_after_mib"] = Mib(ours.RssAfterBytes),
            ["freed_mib"] = Mib(ours.FreedBytes),
            ["rss_drop_of_freed_pct"] = Round(100 * ours.RssDropRatio),
            ["savings_pct_by_pass"] = new JsonArray([.. ours.SavingsPctPerPass.Select(s => (JsonNode?)Round(s))]),
            ["guest_pages"] = ours.GuestPages,
        };
        if (ksm == null) return result;
        result["ksm_converge_s"] = Round(ksm.ConvergeSeconds, 3);
        result["ksm_cpu_s"] = Round(ksm.CpuSeconds, 3);
        result["ksm_savings_pct"] = Round(ksm.SavingsPct);
        result["ksm_pages_sharing"] = ksm.PagesSharing;
        result["ksm_pages_shared"] = ksm.PagesShared;
        result["ksm_full_scans"] = ksm.FullScans;
        result["ksm_repaired"] = ksm.Repaired;
        return result;
    }

    public static void Print(string[] dumps, FusionBenchResult ours, KsmPeerResult? ksm)
    {
        var table = new Table().Title($"Page fusion on {dumps.Length} real guest RAM dump(s), {ours.GuestPages:N0} pages").AddColumn("figure").AddColumn("GuestMemory");
        if (ksm != null) table.AddColumn("Linux KSM");
        void Row(string figure, string mine, string? theirs = null) =>
            table.AddRow(ksm == null ? [figure, mine] : [figure, mine, theirs ?? "–"]);
        Row("savings (guest pages without a host page of their own)", $"{ours.SavingsPct:F2}%", ksm == null ? null : $"{ksm.SavingsPct:F2}%");
        Row("perfect zero-page + sharing savings (exact)", $"{ours.PerfectSavingsPct:F2}%", ksm == null ? null : $"{ours.PerfectSavingsPct:F2}%");
        Row("passes / full scans to converge", $"{ours.Passes}", ksm?.FullScans.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Row("time to the last merge", $"{ours.ConvergeSeconds:F3} s", ksm == null ? null : $"{ksm.ConvergeSeconds:F3} s");
        Row("scanner CPU time", $"{ours.CpuSeconds:F3} s", ksm == null ? null : $"{ksm.CpuSeconds:F3} s");
        Row("scan speed (bytes hashed or compared / CPU s)", $"{ours.ScanGbps:F2} GB/s");
        Row("process RSS before -> after", $"{Mib(ours.RssBeforeBytes)} -> {Mib(ours.RssAfterBytes)} MiB");
        Row("host memory freed (Gmm) / RSS drop", $"{Mib(ours.FreedBytes)} MiB / {100 * ours.RssDropRatio:F1}% of it");
        CliConsole.Out.Write(table);
        if (ksm?.Repaired != null) ErrorReport.Warning($"an interrupted earlier run had left KSM tuned; restored {ksm.Repaired} first");
        CliConsole.Out.MarkupLine("[grey]definitions: docs/fusion.md[/]");
    }

    private static double Round(double value, int digits = 2) => Math.Round(value, digits);

    private static long Mib(long bytes) => bytes >> 20;
}
