using System.Text.Json.Nodes;
using GuestMemory.Benchmarks;
using GuestMemory.Cli.Output;
using GuestMemory.Gmm;
using GuestMemory.Migration;
using Spectre.Console;

namespace GuestMemory.Cli.Commands;

/// <summary>What <c>gmm migrate listen</c> prints for a VM that arrived: a table, or one JSON document on one line.</summary>
internal static class ReceivedVmReport
{
    public static void Print(int session, GlobalMemoryManager gmm, ReceivedVm received, bool withDigest, bool json)
    {
        IncomingReport r = received.Report;
        GmmStatistics host = gmm.Statistics;
        string? digest = withDigest ? MigrationWorkload.Digest(received.Vm) : null;
        if (json)
        {
            CliJson.WriteOut(CliJson.Result("migrate listen", new JsonObject
            {
                ["session"] = session, ["vm"] = r.VmName, ["ram_bytes"] = received.Vm.Options.RamSize, ["passes"] = r.Passes,
                ["pages_with_data"] = r.PagesWithData, ["pages_by_reference"] = r.PagesByReference, ["contents_found"] = r.ContentsFound,
                ["private_pages_shared"] = r.PrivatePagesShared, ["bytes_received"] = r.BytesReceived,
                ["commit_ms"] = Math.Round(r.LastCommit.TotalMilliseconds, 3), ["host_shared_pages"] = host.SharedPages,
                ["host_duplicate_pages"] = host.DuplicatePages, ["verified"] = true, ["digest"] = digest,
            }), oneLine: true);
            return;
        }
        var table = new Table().Title(SafeText.Of($"Session {session}: received {r.VmName} ({received.Vm.Options.RamSize >> 20} MiB)")).AddColumns("figure", "value");
        table.AddRow("passes", $"{r.Passes}");
        table.AddRow("pages whose bytes arrived", $"{r.PagesWithData:N0}");
        table.AddRow("pages by reference (content held here or sent once)", $"{r.PagesByReference:N0}");
        table.AddRow("contents this host supplied / private pages made shared", $"{r.ContentsFound:N0} / {r.PrivatePagesShared:N0}");
        table.AddRow("bytes received", $"{r.BytesReceived:N0}");
        table.AddRow("commit", $"{r.LastCommit.TotalMilliseconds:0.0} ms");
        table.AddRow("host: shared pages / guest pages they save", $"{host.SharedPages:N0} / {host.DuplicatePages:N0}");
        table.AddRow("consistency check", "[green]clean[/]");
        if (digest != null) table.AddRow("SHA-256 of RAM", digest);
        CliConsole.Out.Write(table);
    }
}
