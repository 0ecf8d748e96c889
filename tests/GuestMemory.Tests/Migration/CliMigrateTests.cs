using System.Diagnostics;
using System.Text.Json;
using GuestMemory.Tests.Support;
using static GuestMemory.Tests.Support.GmmProcess;

namespace GuestMemory.Tests.Migration;

/// <summary>
/// The real <c>gmm migrate listen</c> and <c>gmm migrate send</c>, two processes on loopback (the gmm
/// command is built into this test's output folder): the VM arrives byte for byte, and a refusal ends
/// both with one error line and exit code 2.
/// </summary>
public sealed class CliMigrateTests : IDisposable
{
    private readonly string _readyFile = Path.Combine(Path.GetTempPath(), $"gmm-test-{Guid.NewGuid():N}.port");

    [Fact]
    public void AVmSentByOneProcessArrivesInTheOtherByteForByte()
    {
        using Process listener = Start("migrate", "listen", "--port", "0", "--ready-file", _readyFile, "--json", "--digest", "--preload-mib", "4", "--domain", "cli-test");
        int port = WaitForPort(listener, _readyFile);

        using Process sender = Start("migrate", "send", "--to", $"127.0.0.1:{port}", "--ram-mib", "16", "--random-mib", "4", "--known-mib", "4",
                                   "--hot-mib", "2", "--write-mibps", "20", "--domain", "cli-test", "--digest", "--json");
        GmmOutcome sending = Outcome(sender), receiving = Outcome(listener);
        Assert.True(sending.ExitCode == 0, sending.All);
        Assert.True(receiving.ExitCode == 0, receiving.All);
        JsonElement sent = LastJson(sending.Stdout);
        JsonElement received = LastJson(receiving.Stdout);

        Assert.Equal(sent.GetProperty("digest").GetString(), received.GetProperty("digest").GetString());
        Assert.Equal(16L << 20, sent.GetProperty("guest_bytes").GetInt64());
        Assert.Equal(1024, received.GetProperty("pages_by_reference").GetInt64()); // the 4 MiB the listener held
        Assert.True(received.GetProperty("verified").GetBoolean());
    }

    [Fact]
    public void ARefusalEndsBothSidesWithTheReason()
    {
        using Process listener = Start("migrate", "listen", "--port", "0", "--ready-file", _readyFile, "--host-mib", "16");
        int port = WaitForPort(listener, _readyFile);

        // 32 MiB of data for a host of 16 MiB (the reservation of 48 MiB of RAM is within its over-commit).
        using Process sender = Start("migrate", "send", "--to", $"127.0.0.1:{port}", "--ram-mib", "48", "--random-mib", "32");
        string sent = Finish(sender, expectedExit: 2);
        string received = Finish(listener, expectedExit: 2);

        Assert.Contains("MigrationRefused", sent);
        Assert.Contains("HitGlobalLimit", sent); // the target's own reason, carried back
        Assert.Contains("HitGlobalLimit", received);
    }

    public void Dispose() => File.Delete(_readyFile);

    /// <summary>The <c>result</c> of the last JSON document on a gmm's standard output (one indented document, or one per line).</summary>
    private static JsonElement LastJson(string stdout)
    {
        string trimmed = stdout.Trim();
        string last = trimmed.StartsWith("{\n", StringComparison.Ordinal) ? trimmed : trimmed.Split('\n').Last(l => l.StartsWith('{'));
        return JsonDocument.Parse(last).RootElement.GetProperty("result").Clone();
    }
}
