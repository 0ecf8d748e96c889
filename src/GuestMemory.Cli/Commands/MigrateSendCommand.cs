using System.CommandLine;
using GuestMemory.Benchmarks;
using GuestMemory.Cli.Output;
using GuestMemory.Gmm;
using GuestMemory.Migration;

namespace GuestMemory.Cli.Commands;

/// <summary>
/// <c>gmm migrate send --to HOST:PORT</c>: a source host. Builds a VM (random data, optionally content
/// the target holds, zeros elsewhere), optionally keeps a guest thread rewriting part of it, and moves
/// it to the target while showing the passes (on standard error); prints the move's figures at the end.
/// A move cannot stop midway: Ctrl+C ends the process at once, and the target discards what it received.
/// </summary>
internal static class MigrateSendCommand
{
    public static Command Create()
    {
        var to = new Option<string>("--to") { Description = "The target, HOST:PORT (a `gmm migrate listen`)", Required = true };
        to.Validators.Add(r =>
        {
            if (r.Tokens.Count > 0 && Endpoint(r.Tokens[^1].Value) == null) r.AddError($"--to must be HOST:PORT with a port 1..65535, not '{r.Tokens[^1].Value}'");
        });
        var ram = new Option<int>("--ram-mib") { Description = "Guest RAM of the VM to move, MiB", DefaultValueFactory = _ => 64 }.Within(1, 1 << 16);
        var random = new Option<int>("--random-mib") { Description = "Random data at the start of its RAM, MiB", DefaultValueFactory = _ => 16 }.Within(0, 1 << 16);
        var known = new Option<int>("--known-mib") { Description = "Then content the target holds (its --preload-mib with the same seed), MiB" }.Within(0, 1 << 16);
        var knownSeed = new Option<int>("--known-seed") { Description = "Seed of the known content", DefaultValueFactory = _ => 1 };
        var seed = new Option<int>("--seed") { Description = "Seed of the random data", DefaultValueFactory = _ => 2 };
        var hot = new Option<int>("--hot-mib") { Description = "A guest thread rewrites this much of the random data during the move, MiB" }.Within(0, 1 << 16);
        var rate = new Option<int>("--write-mibps") { Description = "How fast that guest writes, MiB/s", DefaultValueFactory = _ => 50 }.Within(0, 100_000);
        var domain = new Option<string>("--domain") { Description = "Sharing domain of the VM", DefaultValueFactory = _ => "bench" };
        var name = new Option<string>("--name") { Description = "Name of the VM (the target creates it under this name)", DefaultValueFactory = _ => "sent-vm" };
        var downtime = new Option<int>("--max-downtime-ms") { Description = "Downtime the move aims for, ms", DefaultValueFactory = _ => 20 }.Within(1, 60_000);
        var digest = new Option<bool>("--digest") { Description = "Print the SHA-256 of the VM's RAM as it was paused (adds its time to the downtime)" };
        Option<bool> json = MigrateCommand.JsonOption();
        var send = new Command("send", "Move a VM to a `gmm migrate listen` target") { to, ram, random, known, knownSeed, seed, hot, rate, domain, name, downtime, digest, json };
        send.SetAction(p =>
        {
            var workload = new MigrationWorkload
            {
                RamMib = p.GetValue(ram), RandomMib = p.GetValue(random), KnownMib = p.GetValue(known), KnownSeed = p.GetValue(knownSeed), Seed = p.GetValue(seed),
                HotMib = p.GetValue(hot), WriteMibPerSecond = p.GetValue(hot) > 0 ? p.GetValue(rate) : 0, Domain = p.GetValue(domain)!,
            };
            return Run(Endpoint(p.GetValue(to)!)!.Value, p.GetValue(name)!, workload, TimeSpan.FromMilliseconds(p.GetValue(downtime)), p.GetValue(digest), p.GetValue(json));
        });
        return send;
    }

    private static int Run((string Host, int Port) to, string name, MigrationWorkload workload, TimeSpan maxDowntime, bool withDigest, bool json)
    {
        using var gmm = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = workload.GuestBytes + (256L << 20) });
        VirtualMachine vm = workload.Create(gmm, name);
        using var writer = new RateLimitedWriter(vm, (long)workload.HotMib << 20, workload.WriteMibPerSecond * (1 << 20));
        string? digest = null;
        void Pause()
        {
            writer.Pause();
            if (withDigest) digest = MigrationWorkload.Digest(vm);
        }
        var options = new MoveOptions { MaxDowntime = maxDowntime };
        MoveReport report = CliProgress.Status($"moving to {to.Host}:{to.Port}", status =>
            vm.MoveTo(to.Host, to.Port, Pause, writer.Resume, options, new InlineProgress<MigrationProgress>(p => status(Describe(p)))));
        MigrationSummary.Print(report, digest, json);
        return 0;
    }

    private static string Describe(MigrationProgress p) =>
        $"{p.Phase}: pass {p.Pass} took {p.PagesLastPass:N0} pages, {p.BytesSent / (1 << 20):N0} MiB sent, {p.Elapsed.TotalMilliseconds:N0} ms";

    /// <summary>HOST:PORT (the last colon separates the port, so IPv6 addresses work in brackets), or null when it is not that.</summary>
    private static (string Host, int Port)? Endpoint(string text)
    {
        int colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text.AsSpan(colon + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int port) || port is < 1 or > 65535)
            return null;
        string host = text[..colon].Trim('[', ']');
        return host.Length == 0 ? null : (host, port);
    }
}
