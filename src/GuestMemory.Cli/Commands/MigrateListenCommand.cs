using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using GuestMemory.Benchmarks;
using GuestMemory.Gmm;
using GuestMemory.Migration;
using Spectre.Console;

namespace GuestMemory.Cli.Commands;

/// <summary>
/// <c>gmm migrate listen --port P</c>: a target host. Optionally holds a resident VM with known content
/// first (as the benchmark's target does), says where it listens (<c>--ready-file</c>: the port, written
/// once it accepts), receives <c>--sessions</c> moves one after the other, checks the Gmm after each and
/// prints what arrived.
/// </summary>
internal static class MigrateListenCommand
{
    public static Command Create()
    {
        var port = new Option<int>("--port") { Description = "TCP port to listen on (0: any free port; see --ready-file)", Required = true }.Within(0, 65535);
        var address = new Option<string>("--address") { Description = "Address to listen on", DefaultValueFactory = _ => "127.0.0.1" };
        var readyFile = new Option<string?>("--ready-file") { Description = "Write the port to this file once listening (for scripts and the benchmark)" };
        var hostMib = new Option<int>("--host-mib") { Description = "Host memory this GuestMemory host may use, MiB", DefaultValueFactory = _ => 4096 }.Within(16, 1 << 20);
        var preloadMib = new Option<int>("--preload-mib") { Description = "A resident VM holding this much known content (the sender's --known-mib with the same seed)" }.Within(0, 1 << 16);
        var preloadSeed = new Option<int>("--preload-seed") { Description = "Seed of the resident VM's known content", DefaultValueFactory = _ => 1 };
        var domain = new Option<string>("--domain") { Description = "Sharing domain of the resident VM", DefaultValueFactory = _ => "bench" };
        var sessions = new Option<int>("--sessions") { Description = "Moves to receive before exiting (each VM but the last is destroyed after its summary)", DefaultValueFactory = _ => 1 }.Within(1, 1000);
        var digest = new Option<bool>("--digest") { Description = "Print the SHA-256 of each received VM's RAM" };
        Option<bool> json = MigrateCommand.JsonOption();
        var listen = new Command("listen", "Receive VMs moved here by `gmm migrate send`") { port, address, readyFile, hostMib, preloadMib, preloadSeed, domain, sessions, digest, json };
        listen.SetAction((p, cancel) => Task.FromResult(Run(new Settings(p.GetValue(port), p.GetValue(address)!, p.GetValue(readyFile), p.GetValue(hostMib),
            p.GetValue(preloadMib), p.GetValue(preloadSeed), p.GetValue(domain)!, p.GetValue(sessions), p.GetValue(digest), p.GetValue(json)), cancel)));
        return listen;
    }

    private sealed record Settings(int Port, string Address, string? ReadyFile, int HostMib, int PreloadMib, int PreloadSeed, string Domain, int Sessions, bool Digest, bool Json);

    private static int Run(Settings s, CancellationToken cancel)
    {
        using var gmm = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = (long)s.HostMib << 20 });
        if (s.PreloadMib > 0) MigrationWorkload.CreateResident(gmm, s.PreloadMib, s.PreloadSeed, s.Domain);
        using var endpoint = new MigrationEndpoint(IPAddress.Parse(s.Address), s.Port);
        if (s.ReadyFile != null) WriteAtomically(s.ReadyFile, endpoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (!s.Json) AnsiConsole.MarkupLineInterpolated($"listening on {s.Address}:{endpoint.Port}");
        for (int session = 1; session <= s.Sessions; session++)
        {
            ReceivedVm received;
            using (NetworkStream connection = endpoint.Accept(cancel)) received = gmm.ReceiveVm(connection);
            gmm.Verify();
            Print(s, gmm, received);
            if (session < s.Sessions) gmm.DestroyVm(received.Vm);
        }
        return 0;
    }

    private static void Print(Settings s, GlobalMemoryManager gmm, ReceivedVm received)
    {
        IncomingReport r = received.Report;
        GmmStatistics host = gmm.Statistics;
        string? digest = s.Digest ? MigrationWorkload.Digest(received.Vm) : null;
        if (s.Json)
        {
            JsonOutput.WriteLine([
                new("vm", r.VmName), new("ram_bytes", received.Vm.Options.RamSize), new("passes", r.Passes), new("pages_with_data", r.PagesWithData),
                new("pages_by_reference", r.PagesByReference), new("contents_found", r.ContentsFound), new("private_pages_shared", r.PrivatePagesShared),
                new("bytes_received", r.BytesReceived), new("commit_ms", Math.Round(r.LastCommit.TotalMilliseconds, 3)),
                new("host_shared_pages", host.SharedPages), new("host_duplicate_pages", host.DuplicatePages), new("verified", true), new("digest", digest),
            ]);
            return;
        }
        var table = new Table().Title($"Received {Markup.Escape(r.VmName)} ({received.Vm.Options.RamSize >> 20} MiB)").AddColumns("figure", "value");
        table.AddRow("passes", $"{r.Passes}");
        table.AddRow("pages whose bytes arrived", $"{r.PagesWithData:N0}");
        table.AddRow("pages by reference (content held here or sent once)", $"{r.PagesByReference:N0}");
        table.AddRow("contents this host supplied / private pages made shared", $"{r.ContentsFound:N0} / {r.PrivatePagesShared:N0}");
        table.AddRow("bytes received", $"{r.BytesReceived:N0}");
        table.AddRow("commit", $"{r.LastCommit.TotalMilliseconds:0.0} ms");
        table.AddRow("host: shared pages / guest pages they save", $"{host.SharedPages:N0} / {host.DuplicatePages:N0}");
        table.AddRow("consistency check", "[green]clean[/]");
        if (digest != null) table.AddRow("SHA-256 of RAM", digest);
        AnsiConsole.Write(table);
    }

    /// <summary>Writes a file so that a reader never sees it half written.</summary>
    private static void WriteAtomically(string path, string text)
    {
        string temporary = path + ".tmp";
        File.WriteAllText(temporary, text);
        File.Move(temporary, path, overwrite: true);
    }
}
