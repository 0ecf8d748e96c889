using GuestMemory.Benchmarks;
using Spectre.Console;

namespace GuestMemory.Cli.Commands;

/// <summary>The figures of <c>gmm bench fusion</c>: a side-by-side table, or one JSON object.</summary>
internal static class BenchFusionReport
{
    public static IEnumerable<KeyValuePair<string, object?>> Json(FusionBenchResult ours, KsmPeerResult? ksm)
    {
        yield return new("savings_pct", Round(ours.SavingsPct));
        yield return new("perfect_savings_pct", Round(ours.PerfectSavingsPct));
        yield return new("passes", ours.Passes);
        yield return new("converge_s", Round(ours.ConvergeSeconds, 3));
        yield return new("cpu_s", Round(ours.CpuSeconds, 3));
        yield return new("scan_gbps", Round(ours.ScanGbps));
        yield return new("rss_before_mib", Mib(ours.RssBeforeBytes));
        yield return new("rss_after_mib", Mib(ours.RssAfterBytes));
        yield return new("freed_mib", Mib(ours.FreedBytes));
        yield return new("rss_drop_of_freed_pct", Round(100 * ours.RssDropRatio));
        yield return new("savings_pct_by_pass", ours.SavingsPctPerPass.Select(s => Round(s)).ToArray());
        yield return new("guest_pages", ours.GuestPages);
        if (ksm == null) yield break;
        yield return new("ksm_converge_s", Round(ksm.ConvergeSeconds, 3));
        yield return new("ksm_cpu_s", Round(ksm.CpuSeconds, 3));
        yield return new("ksm_savings_pct", Round(ksm.SavingsPct));
        yield return new("ksm_pages_sharing", ksm.PagesSharing);
        yield return new("ksm_pages_shared", ksm.PagesShared);
        yield return new("ksm_full_scans", ksm.FullScans);
    }

    public static void Print(string[] dumps, FusionBenchResult ours, KsmPeerResult? ksm)
    {
        var table = new Table().Title($"Page fusion on {dumps.Length} real guest RAM dump(s), {ours.GuestPages:N0} pages").AddColumn("figure").AddColumn("GuestMemory");
        if (ksm != null) table.AddColumn("Linux KSM");
        void Row(string figure, string mine, string? theirs = null) =>
            table.AddRow(ksm == null ? [figure, mine] : [figure, mine, theirs ?? "–"]);
        Row("savings (guest pages without a host page of their own)", $"{ours.SavingsPct:F2}%", ksm == null ? null : $"{ksm.SavingsPct:F2}%");
        Row("perfect zero-page + sharing savings (exact)", $"{ours.PerfectSavingsPct:F2}%", ksm == null ? null : $"{ours.PerfectSavingsPct:F2}%");
        Row("passes / full scans to converge", $"{ours.Passes}", ksm?.FullScans.ToString());
        Row("time to the last merge", $"{ours.ConvergeSeconds:F3} s", ksm == null ? null : $"{ksm.ConvergeSeconds:F3} s");
        Row("scanner CPU time", $"{ours.CpuSeconds:F3} s", ksm == null ? null : $"{ksm.CpuSeconds:F3} s");
        Row("scan speed (bytes hashed or compared / CPU s)", $"{ours.ScanGbps:F2} GB/s");
        Row("process RSS before -> after", $"{Mib(ours.RssBeforeBytes)} -> {Mib(ours.RssAfterBytes)} MiB");
        Row("host memory freed (Gmm) / RSS drop", $"{Mib(ours.FreedBytes)} MiB / {100 * ours.RssDropRatio:F1}% of it");
        AnsiConsole.Write(table);
        if (ksm?.Repaired != null) AnsiConsole.MarkupLineInterpolated($"[yellow]an interrupted earlier run had left KSM tuned; restored {ksm.Repaired} first[/]");
        AnsiConsole.MarkupLine("[grey]definitions: docs/fusion.md[/]");
    }

    private static double Round(double value, int digits = 2) => Math.Round(value, digits);

    private static long Mib(long bytes) => bytes >> 20;
}
