using System.Text.Json.Nodes;
using GuestMemory.Cli.Output;
using GuestMemory.Migration;
using Spectre.Console;

namespace GuestMemory.Cli.Commands;

/// <summary>The end-of-move summary of <c>gmm migrate send</c>: a table of totals and passes, or a JSON result with a row per pass.</summary>
internal static class MigrationSummary
{
    public static void Print(MoveReport r, string? digest, bool json)
    {
        if (json)
        {
            var result = new JsonObject
            {
                ["total_s"] = Math.Round(r.Total.TotalSeconds, 4), ["downtime_ms"] = Math.Round(r.Downtime.TotalMilliseconds, 3),
                ["bytes_sent"] = r.BytesSent, ["guest_bytes"] = r.GuestBytes, ["passes"] = r.Passes.Count,
                ["target_commit_ms"] = Math.Round(r.TargetCommit.TotalMilliseconds, 3), ["stop_reason"] = r.StopReason, ["digest"] = digest,
            };
            var passes = new JsonArray();
            foreach (PassReport p in r.Passes)
                passes.Add(new JsonObject
                {
                    ["pass"] = p.Number, ["final"] = p.Final, ["pages_taken"] = p.PagesTaken, ["pages_with_data"] = p.PagesWithData,
                    ["content_references"] = p.ContentReferences, ["duplicates"] = p.Duplicates, ["zero_pages"] = p.ZeroPages,
                    ["bytes"] = p.Bytes, ["ms"] = Math.Round(p.Duration.TotalMilliseconds, 3),
                });
            CliJson.WriteOut(CliJson.Result("migrate send", result, passes));
            return;
        }
        var totals = new Table().Title("Move completed: the VM runs on the target").AddColumns("figure", "value");
        totals.AddRow("total", $"{r.Total.TotalSeconds:0.000} s");
        totals.AddRow("downtime (pause to RESUMED)", $"{r.Downtime.TotalMilliseconds:0.0} ms (target commit {r.TargetCommit.TotalMilliseconds:0.0} ms)");
        totals.AddRow("bytes sent / guest bytes", $"{r.BytesSent:N0} / {r.GuestBytes:N0} ({(double)r.BytesSent / r.GuestBytes:0.000})");
        totals.AddRow(UserText.Cell("why pre-copy stopped"), UserText.Cell(r.StopReason));
        if (digest != null) totals.AddRow("SHA-256 of RAM at the pause", digest);
        CliConsole.Out.Write(totals);
        var passTable = new Table().AddColumns("pass", "pages taken", "with data", "references", "duplicates", "zero", "MiB", "ms");
        foreach (PassReport p in r.Passes)
            passTable.AddRow($"{p.Number}{(p.Final ? " (final)" : "")}", $"{p.PagesTaken:N0}", $"{p.PagesWithData:N0}", $"{p.ContentReferences:N0}", $"{p.Duplicates:N0}",
                $"{p.ZeroPages:N0}", $"{p.Bytes / 1048576.0:0.0}", $"{p.Duration.TotalMilliseconds:0.0}");
        CliConsole.Out.Write(passTable);
    }
}
