using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using GuestMemory.Benchmarks;
using GuestMemory.Cli.Output;
using GuestMemory.Gmm;
using GuestMemory.Migration;

namespace GuestMemory.Cli.Commands;

/// <summary>
/// <c>gmm migrate listen --port P</c>: a target host. Optionally holds a resident VM with known content
/// first (as the benchmark's target does), says where it listens (<c>--ready-file</c>: the port, written
/// once it accepts), and serves <c>--sessions</c> incoming moves, up to <c>--max-concurrent</c> at once
/// (<see cref="ListenerSessions"/>): each that succeeds prints what arrived, each that fails is reported
/// and the listener goes on. The exit code says whether every session succeeded.
/// </summary>
internal static class MigrateListenCommand
{
    public static Command Create()
    {
        var port = new Option<int>("--port") { Description = "TCP port to listen on (0: any free port; see --ready-file)", Required = true }.Within(0, 65535);
        var address = new Option<string>("--address") { Description = "IP address to listen on", DefaultValueFactory = _ => "127.0.0.1" };
        address.Validators.Add(r =>
        {
            string? text = r.Tokens.Count > 0 ? r.Tokens[^1].Value : null;
            if (text != null && !IPAddress.TryParse(text, out _)) r.AddError($"--address must be an IP address, not '{text}'");
        });
        var readyFile = new Option<string?>("--ready-file") { Description = "Write the port to this file once listening (for scripts and the benchmark)" };
        var hostMib = new Option<int>("--host-mib") { Description = "Host memory this GuestMemory host may use, MiB", DefaultValueFactory = _ => 4096 }.Within(16, 1 << 20);
        var preloadMib = new Option<int>("--preload-mib") { Description = "A resident VM holding this much known content (the sender's --known-mib with the same seed)" }.Within(0, 1 << 16);
        var preloadSeed = new Option<int>("--preload-seed") { Description = "Seed of the resident VM's known content", DefaultValueFactory = _ => 1 };
        var domain = new Option<string>("--domain") { Description = "Sharing domain of the resident VM", DefaultValueFactory = _ => "bench" };
        var sessions = new Option<int>("--sessions") { Description = "Sessions to serve before exiting, whether they succeed or fail (each received VM is destroyed after its summary)", DefaultValueFactory = _ => 1 }.Within(1, 1000);
        var concurrent = new Option<int>("--max-concurrent") { Description = "Sessions served at the same time (a slow peer holds one, not the listener)", DefaultValueFactory = _ => 4 }.Within(1, 64);
        var digest = new Option<bool>("--digest") { Description = "Print the SHA-256 of each received VM's RAM" };
        Option<bool> json = MigrateCommand.JsonOption();
        var listen = new Command("listen", "Receive VMs moved here by `gmm migrate send`")
        {
            port, address, readyFile, hostMib, preloadMib, preloadSeed, domain, sessions, concurrent, digest, json,
        };
        listen.SetCancellableRun((p, cancel) => Run(new ListenSettings(p.GetValue(port), p.GetValue(address)!, p.GetValue(readyFile), p.GetValue(hostMib),
            p.GetValue(preloadMib), p.GetValue(preloadSeed), p.GetValue(domain)!, p.GetValue(sessions), p.GetValue(concurrent), p.GetValue(digest), p.GetValue(json)), cancel));
        return listen;
    }

    private static int Run(ListenSettings s, CancellationToken cancel)
    {
        string? readyFile = s.ReadyFile == null ? null : OutputPath.CheckFile(s.ReadyFile, "ready file");
        using var gmm = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = (long)s.HostMib << 20 });
        if (s.PreloadMib > 0) MigrationWorkload.CreateResident(gmm, s.PreloadMib, s.PreloadSeed, s.Domain);
        using MigrationEndpoint endpoint = Listen(IPAddress.Parse(s.Address), s.Port);
        if (readyFile != null) WriteAtomically(readyFile, endpoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (!s.Json) CliConsole.Err.Line($"listening on {s.Address}:{endpoint.Port} for {s.Sessions} session(s), {s.MaxConcurrent} at a time");
        int failed = new ListenerSessions(gmm, endpoint, s).Serve(cancel);
        cancel.ThrowIfCancellationRequested();
        if (failed > 0) throw new CliException(CliError.SessionsFailed, $"{failed} of {s.Sessions} session(s) failed (each is reported above)");
        return 0;
    }

    /// <summary>Starts listening, or says in one line why it cannot (the port taken, an address that is not this host's).</summary>
    private static MigrationEndpoint Listen(IPAddress address, int port)
    {
        try
        {
            return new MigrationEndpoint(address, port);
        }
        catch (SocketException e)
        {
            throw CliException.Socket(e, $"cannot listen on {address}:{port}: {e.Message}");
        }
    }

    /// <summary>Writes a file so that a reader never sees it half written.</summary>
    private static void WriteAtomically(string path, string text)
    {
        string temporary = path + ".tmp";
        File.WriteAllText(temporary, text);
        File.Move(temporary, path, overwrite: true);
    }
}

/// <summary>What <c>gmm migrate listen</c> was asked for.</summary>
internal sealed record ListenSettings(int Port, string Address, string? ReadyFile, int HostMib, int PreloadMib, int PreloadSeed, string Domain, int Sessions, int MaxConcurrent, bool Digest, bool Json);
