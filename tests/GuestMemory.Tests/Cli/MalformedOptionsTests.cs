using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Cli;

/// <summary>
/// Every gmm command given bad input, as a user types it, run as a real process: bad numbers, floats
/// for integers, values out of range, unknown options, missing required ones, paths that do not exist
/// or hold markup characters. Each ends with exactly one short line on standard error, nothing on
/// standard output, no stack trace, and exit code 1 (the command line does not parse) or 2 (a typed
/// error found when the command ran); with <c>--json</c> the line is a JSON error document.
/// </summary>
public sealed class MalformedOptionsTests
{
    public static TheoryData<int, string[]> Cases() => new()
    {
        { 1, ["--no-such-option"] },
        { 1, ["nosuch"] },
        { 1, ["demo", "--vms", "0"] },
        { 1, ["demo", "--vms", "1e3"] },
        { 1, ["demo", "--vms", "2.5"] },
        { 1, ["demo", "--ram-mib", "lots"] },
        { 1, ["demo", "--duration", "NaN"] },
        { 1, ["demo", "--duration", "-1"] },
        { 1, ["demo", "--no-such-option"] },
        { 2, ["demo", "--report", "/nonexistent/dir/r.html"] },
        { 2, ["demo", "--report", "/nonexistent/[red]dir[/]/r[1].html"] },
        { 1, ["analyze"] },
        { 1, ["analyze", "--bogus", "x.raw"] },
        { 2, ["analyze", "dump[1].raw"] },
        { 2, ["analyze", "[/]unbalanced[bold].raw"] },
        { 2, ["analyze", "/dev/null"] },
        { 1, ["bench"] },
        { 1, ["bench", "nosuch"] },
        { 1, ["bench", "alloc", "--bogus"] },
        { 1, ["bench", "access", "--repetitions", "0"] },
        { 1, ["bench", "access", "--repetitions", "2.0"] },
        { 1, ["bench", "balloon", "--vms", "1"] },
        { 1, ["bench", "balloon", "--ram-mib", "1e3"] },
        { 1, ["bench", "state", "--sink", "disk"] },
        { 1, ["bench", "state", "--ram-mib", "64.5"] },
        { 1, ["bench", "compaction", "--vms", "99"] },
        { 2, ["bench", "compaction", "--svg", "/proc/version/maps"] },
        { 1, ["bench", "fusion", "--peer", "qemu"] },
        { 2, ["bench", "fusion", "--dumps", "missing[1].raw"] },
        { 1, ["bench", "migrate", "--runs", "0"] },
        { 1, ["bench", "migrate", "--ram-mib", "2.0"] },
        { 1, ["bench", "all", "--only", "nosuch"] },
        { 2, ["bench", "all", "--output", "/nonexistent/dir/results.json"] },
        { 1, ["bench", "micro", "--bogus"] },
        { 1, ["migrate"] },
        { 1, ["migrate", "listen"] },
        { 1, ["migrate", "listen", "--port", "2.0"] },
        { 1, ["migrate", "listen", "--port", "70000"] },
        { 1, ["migrate", "listen", "--port", "-1"] },
        { 1, ["migrate", "listen", "--port", "0", "--address", "nowhere"] },
        { 2, ["migrate", "listen", "--port", "0", "--address", "192.0.2.1"] },
        { 1, ["migrate", "listen", "--port", "0", "--sessions", "0"] },
        { 1, ["migrate", "listen", "--port", "0", "--max-concurrent", "0"] },
        { 2, ["migrate", "listen", "--port", "0", "--ready-file", "/nonexistent/dir/port"] },
        { 1, ["migrate", "send"] },
        { 1, ["migrate", "send", "--to", "nohostport"] },
        { 1, ["migrate", "send", "--to", "127.0.0.1:70000"] },
        { 1, ["migrate", "send", "--to", "127.0.0.1:1", "--ram-mib", "0"] },
        { 1, ["migrate", "send", "--to", "127.0.0.1:1", "--write-mibps", "1.5"] },
        { 2, ["migrate", "send", "--to", "127.0.0.1:1", "--ram-mib", "4", "--random-mib", "1"] },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Bad_input_gives_one_line_on_standard_error_and_exit_1_or_2(int exit, string[] arguments)
    {
        GmmOutcome run = GmmProcess.RunOutcome(arguments);

        AssertOneLineFailure(run, exit);
        Assert.StartsWith("gmm: ", run.ErrLines[0]);
    }

    /// <summary>Commands that take --json, each with a parse error and a typed error.</summary>
    public static TheoryData<int, string[]> JsonCases() => new()
    {
        { 1, ["analyze", "--json"] },
        { 2, ["analyze", "--json", "dump[1].raw"] },
        { 1, ["bench", "access", "--json", "--repetitions", "2.0"] },
        { 2, ["bench", "fusion", "--json", "--dumps", "missing[1].raw"] },
        { 2, ["bench", "all", "--json", "--output", "/nonexistent/dir/results.json"] },
        { 1, ["migrate", "listen", "--json", "--port", "2.0"] },
        { 2, ["migrate", "listen", "--json", "--port", "0", "--address", "192.0.2.1"] },
        { 1, ["migrate", "send", "--json", "--to", "nohostport"] },
        { 2, ["migrate", "send", "--json", "--to", "127.0.0.1:1", "--ram-mib", "4", "--random-mib", "1"] },
    };

    [Theory]
    [MemberData(nameof(JsonCases))]
    public void With_json_the_line_is_a_json_error_with_its_code(int exit, string[] arguments)
    {
        GmmOutcome run = GmmProcess.RunOutcome(arguments);

        AssertOneLineFailure(run, exit);
        using JsonDocument error = JsonDocument.Parse(run.ErrLines[0]);
        string code = error.RootElement.GetProperty("error").GetProperty("code").GetString()!;
        Assert.False(string.IsNullOrEmpty(error.RootElement.GetProperty("error").GetProperty("message").GetString()));
        if (exit == 1) Assert.Equal("InvalidArguments", code);
        else Assert.NotEqual("Unexpected", code);
    }

    [Fact]
    public void A_port_in_use_is_a_typed_error()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        int port = ((IPEndPoint)taken.LocalEndpoint).Port;

        GmmOutcome run = GmmProcess.RunOutcome("migrate", "listen", "--port", $"{port}");

        AssertOneLineFailure(run, 2);
        Assert.Contains("AddressInUse", run.Stderr);
    }

    private static void AssertOneLineFailure(GmmOutcome run, int exit)
    {
        Assert.True(run.ExitCode == exit, $"exit {run.ExitCode}, expected {exit}: {run.All}");
        Assert.True(run.Stdout.Length == 0, $"standard output should be empty: {run.Stdout}");
        Assert.True(run.ErrLines.Length == 1, $"one line on standard error expected: {run.Stderr}");
        Assert.DoesNotContain("   at ", run.Stderr);
        Assert.DoesNotContain("\u001b", run.Stderr);
        Assert.True(run.ErrLines[0].Length < 400, $"a short line expected: {run.ErrLines[0]}");
    }
}
