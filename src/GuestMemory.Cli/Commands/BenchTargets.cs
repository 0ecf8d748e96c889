using System.Text.Json.Nodes;

namespace GuestMemory.Cli.Commands;

/// <summary>
/// The figures each benchmark is held to (from the issues), checked against its JSON output: a label for
/// the report and whether the run met it. A figure a benchmark did not print counts as not met.
/// </summary>
internal static class BenchTargets
{
    /// <summary>One target: what it says, and how to check it on a benchmark's JSON object.</summary>
    public sealed record Target(string Text, Func<JsonObject, double?> Measured, Func<double, bool> Met, string Unit);

    public static IReadOnlyList<Target> For(string bench) => bench switch
    {
        "alloc" =>
        [
            new("allocate + free, batches of 128 <= 20 ns/page", j => N(j, "alloc_free_ns_per_page"), v => v <= 20, "ns"),
            new("zeroed allocation <= 1.5x Span.Clear", j => N(j, "alloc_zeroed_ns_per_page") / N(j, "span_clear_ns_per_page"), v => v <= 1.5, "x"),
            new("fresh chunk memory no slower than kernel faults", j => N(j, "new_chunk_ns_per_page") / N(j, "kernel_fault_ns_per_page"), v => v <= 1, "x"),
            new("Gmm metadata 8 bytes per host page", j => N(j, "gmm_bytes_per_host_page"), v => v <= 8, "B"),
        ],
        "access" =>
        [
            new("4 KiB Write >= 80% of memcpy", j => N(j, "write4k_gbps") / N(j, "memcpy4k_gbps"), v => v >= 0.8, "x"),
            new("4 KiB Read >= 80% of memcpy", j => N(j, "read4k_gbps") / N(j, "memcpy4k_gbps"), v => v >= 0.8, "x"),
            new("random 8-byte reads <= 1.5x raw", j => N(j, "read8_random_ns") / N(j, "raw_read8_random_ns"), v => v <= 1.5, "x"),
            new("first write no slower than a kernel fault", j => N(j, "first_write_ns_per_page") / N(j, "kernel_fault_ns_per_page"), v => v <= 1, "x"),
            new("PGM metadata 8 bytes per guest page", j => N(j, "pgm_bytes_per_guest_page"), v => v <= 8, "B"),
        ],
        "fusion" =>
        [
            new("savings >= 99% of perfect", j => N(j, "savings_pct") / N(j, "perfect_savings_pct"), v => v >= 0.99, "x"),
            new("scan >= 2.0 GB/s of scanner CPU", j => N(j, "scan_gbps"), v => v >= 2.0, "GB/s"),
            new("converged within 3 passes", j => N(j, "passes"), v => v <= 3, "passes"),
            new("RSS falls by >= 90% of the freed memory", j => N(j, "rss_drop_of_freed_pct"), v => v >= 90, "%"),
        ],
        "balloon" =>
        [
            new("settle p50 <= 100 ms", j => N(j, "settle_ms_p50"), v => v <= 100, "ms"),
            new("settle p99 <= 500 ms", j => N(j, "settle_ms_p99"), v => v <= 500, "ms"),
            new("reclaim >= 200 MiB/s", j => N(j, "reclaim_mib_per_s"), v => v >= 200, "MiB/s"),
            new("peak RSS over budget <= 5%", j => N(j, "peak_rss_over_budget_pct"), v => v <= 5, "%"),
        ],
        "state" =>
        [
            new("file bytes per guest byte <= 0.55", j => N(j, "file_bytes_per_guest_byte"), v => v <= 0.55, ""),
            new("save >= 0.5 GB/s", j => N(j, "save_gbps"), v => v >= 0.5, "GB/s"),
            new("restore >= 0.5 GB/s", j => N(j, "restore_gbps"), v => v >= 0.5, "GB/s"),
        ],
        "compaction" =>
        [
            new("freed memory that left the process after one compaction run >= 99%", j => N(j, "returned_pct_with"), v => v >= 99, "%"),
        ],
        "migrate" =>
        [
            new("downtime <= 20 ms", j => N(j, "downtime_ms"), v => v <= 20, "ms"),
            new("total <= 0.7 s", j => N(j, "total_s"), v => v <= 0.7, "s"),
            new("bytes sent <= 0.25x guest bytes", j => N(j, "bytes_sent") / N(j, "guest_bytes"), v => v <= 0.25, "x"),
        ],
        "qemu-balloon" =>
        [
            new("peak resident RAM over budget <= 5%", j => N(j, "peak_rss_over_budget_pct"), v => v <= 5, "%"),
            new("settle p99 <= 1 s (TCG)", j => N(j, "settle_ms_p99"), v => v <= 1000, "ms"),
            new("no guest OOM kill", j => N(j, "guest_oom_kills"), v => v == 0, ""),
            new("lower peak than free page reporting alone", j => N(j, "peak_resident_mib") / N(j, "fpr_peak_resident_mib"), v => v < 1, "x"),
            new("lower peak than no balloon", j => N(j, "peak_resident_mib") / N(j, "no_balloon_peak_resident_mib"), v => v < 1, "x"),
        ],
        "qemu-store" =>
        [
            new("stored bytes <= 0.5x QEMU's stream", j => N(j, "stored_bytes_per_guest_byte") / N(j, "qemu_stream_bytes_per_guest_byte"), v => v <= 0.5, "x"),
            new("stored bytes <= 0.5x QEMU's stream after zstd -3", j => N(j, "stored_bytes_per_guest_byte") / N(j, "zstd_stream_bytes_per_guest_byte"), v => v <= 0.5, "x"),
            new("resume no slower than QEMU from a file (median of the rounds' ratios)", j => N(j, "resume_vs_qemu"), v => v <= 1, "x"),
            new("resume through a stream alone (a QEMU the store does not own) no slower than QEMU from a file", j => N(j, "resume_stream_vs_qemu"), v => v <= 1, "x"),
            new("relay bytes <= 0.5x QEMU's migration", j => N(j, "relay_bytes_per_guest_byte") / N(j, "qemu_migrate_bytes_per_guest_byte"), v => v <= 0.5, "x"),
        ],
        _ => [],
    };

    /// <summary>
    /// Every target of <paramref name="bench"/> checked against its result: what the target says, the
    /// figure measured (null when the benchmark did not print it), its unit, and whether it was met.
    /// </summary>
    public static JsonArray Evaluate(string bench, JsonObject result)
    {
        var targets = new JsonArray();
        foreach (Target target in For(bench))
        {
            double? measured = target.Measured(result);
            bool known = measured is double v && double.IsFinite(v);
            targets.Add(new JsonObject
            {
                ["target"] = target.Text,
                ["measured"] = known ? Math.Round(measured!.Value, 3) : null,
                ["unit"] = target.Unit,
                ["met"] = known && target.Met(measured!.Value),
            });
        }
        return targets;
    }

    /// <summary>A number from the JSON, or NaN when absent (NaN then fails every comparison).</summary>
    private static double N(JsonObject json, string key) =>
        json.TryGetPropertyValue(key, out JsonNode? node) && node is JsonValue value && value.GetValueKind() == System.Text.Json.JsonValueKind.Number
            ? double.Parse(value.ToJsonString(), System.Globalization.CultureInfo.InvariantCulture) // an int or long node does not convert to double by itself
            : double.NaN;
}
