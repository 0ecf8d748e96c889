using GuestMemory.Migration;
using Spectre.Console;

namespace GuestMemory.Cli.Commands;

/// <summary>The end-of-move summary of <c>gmm migrate send</c>: a table of totals and passes, or one JSON line.</summary>
internal static class MigrationSummary
{
    public static void Print(MoveReport r, string? digest, bool json)
    {
        if (json)
        {
            JsonOutput.WriteLine([
                new("total_s", Math.Round(r.Total.TotalSeconds, 4)), new("downtime_ms", Math.Round(r.Downtime.TotalMilliseconds, 3)),
                new("bytes_sent", r.BytesSent), new("guest_bytes", r.GuestBytes), new("passes", r.Passes.Count),
                new("pages_per_pass", r.Passes.Select(p => p.PagesTaken).ToArray()), new("stop_reason", r.StopReason), new("digest", digest),
            ]);
            return;
        }
        var totals = new Table().Title("Move completed: the VM runs on the target").AddColumns("figure", "value");
        totals.AddRow("total", $"{r.Total.TotalSeconds:0.000} s");
        totals.AddRow("downtime (pause to RESUMED)", $"{r.Downtime.TotalMilliseconds:0.0} ms (target commit {r.TargetCommit.TotalMilliseconds:0.0} ms)");
        totals.AddRow("bytes sent / guest bytes", $"{r.BytesSent:N0} / {r.GuestBytes:N0} ({(double)r.BytesSent / r.GuestBytes:0.000})");
        totals.AddRow("why pre-copy stopped", Markup.Escape(r.StopReason));
        if (digest != null) totals.AddRow("SHA-256 of RAM at the pause", digest);
        AnsiConsole.Write(totals);
        var passes = new Table().AddColumns("pass", "pages taken", "with data", "references", "duplicates", "zero", "MiB", "ms");
        foreach (PassReport p in r.Passes)
            passes.AddRow($"{p.Number}{(p.Final ? " (final)" : "")}", $"{p.PagesTaken:N0}", $"{p.PagesWithData:N0}", $"{p.ContentReferences:N0}", $"{p.Duplicates:N0}",
                $"{p.ZeroPages:N0}", $"{p.Bytes / 1048576.0:0.0}", $"{p.Duration.TotalMilliseconds:0.0}");
        AnsiConsole.Write(passes);
    }
}
