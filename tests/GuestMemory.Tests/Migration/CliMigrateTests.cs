using System.Diagnostics;
using System.Text.Json;

namespace GuestMemory.Tests.Migration;

/// <summary>
/// The real <c>gmm migrate listen</c> and <c>gmm migrate send</c>, two processes on loopback (the gmm
/// command is built into this test's output folder): the VM arrives byte for byte, and a refusal ends
/// both with one error line and exit code 2.
/// </summary>
public sealed class CliMigrateTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly string _readyFile = Path.Combine(Path.GetTempPath(), $"gmm-test-{Guid.NewGuid():N}.port");

    [Fact]
    public void AVmSentByOneProcessArrivesInTheOtherByteForByte()
    {
        using Process listener = Gmm("migrate", "listen", "--port", "0", "--ready-file", _readyFile, "--json", "--digest", "--preload-mib", "4", "--domain", "cli-test");
        int port = WaitForPort(listener);

        using Process sender = Gmm("migrate", "send", "--to", $"127.0.0.1:{port}", "--ram-mib", "16", "--random-mib", "4", "--known-mib", "4",
                                   "--hot-mib", "2", "--write-mibps", "20", "--domain", "cli-test", "--digest", "--json");
        JsonElement sent = LastJson(Finish(sender));
        JsonElement received = LastJson(Finish(listener));

        Assert.Equal(sent.GetProperty("digest").GetString(), received.GetProperty("digest").GetString());
        Assert.Equal(16L << 20, sent.GetProperty("guest_bytes").GetInt64());
        Assert.Equal(1024, received.GetProperty("pages_by_reference").GetInt64()); // the 4 MiB the listener held
        Assert.True(received.GetProperty("verified").GetBoolean());
    }

    [Fact]
    public void ARefusalEndsBothSidesWithTheReason()
    {
        using Process listener = Gmm("migrate", "listen", "--port", "0", "--ready-file", _readyFile, "--host-mib", "16");
        int port = WaitForPort(listener);

        // 32 MiB of data for a host of 16 MiB (the reservation of 48 MiB of RAM is within its over-commit).
        using Process sender = Gmm("migrate", "send", "--to", $"127.0.0.1:{port}", "--ram-mib", "48", "--random-mib", "32");
        string sent = Finish(sender, expectedExit: 2);
        string received = Finish(listener, expectedExit: 2);

        Assert.Contains("MigrationRefused", sent);
        Assert.Contains("HitGlobalLimit", sent); // the target's own reason, carried back
        Assert.Contains("HitGlobalLimit", received);
    }

    public void Dispose() => File.Delete(_readyFile);

    /// <summary>Starts <c>dotnet gmm.dll</c> from this test's output folder.</summary>
    private static Process Gmm(params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "gmm.dll"));
        foreach (string a in arguments) start.ArgumentList.Add(a);
        start.Environment["NO_COLOR"] = "1";
        return Process.Start(start)!;
    }

    private int WaitForPort(Process listener)
    {
        var clock = Stopwatch.StartNew();
        while (!File.Exists(_readyFile) || !int.TryParse(File.ReadAllText(_readyFile), out _))
        {
            if (listener.HasExited) Assert.Fail($"the listener exited: {listener.StandardError.ReadToEnd()}");
            Assert.True(clock.Elapsed < Timeout, "the listener did not say where it listens");
            Thread.Sleep(20);
        }
        return int.Parse(File.ReadAllText(_readyFile));
    }

    /// <summary>Waits for the process and returns everything it printed; its exit code must be <paramref name="expectedExit"/>.</summary>
    private static string Finish(Process process, int expectedExit = 0)
    {
        Task<string> output = process.StandardOutput.ReadToEndAsync(), errors = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(Timeout)) process.Kill(entireProcessTree: true);
        string text = output.GetAwaiter().GetResult() + errors.GetAwaiter().GetResult();
        Assert.True(process.ExitCode == expectedExit, $"exit {process.ExitCode}, expected {expectedExit}: {text}");
        return text;
    }

    private static JsonElement LastJson(string output) =>
        JsonDocument.Parse(output.Split('\n').Last(l => l.StartsWith('{'))).RootElement;
}
