using System.Diagnostics;
using System.Net.Sockets;
using System.Text.Json;
using GuestMemory.Migration;
using GuestMemory.Phys;
using GuestMemory.State;
using GuestMemory.Tests.Support;
using static GuestMemory.Tests.Support.GmmProcess;

namespace GuestMemory.Tests.Cli;

/// <summary>
/// <c>gmm migrate listen</c> against bad peers, as real processes on loopback: a session that fails
/// (random bytes, a peer that connects and closes, a refused HELLO) is reported on its own and the
/// listener goes on to the next; a peer that holds its session open does not keep a good move waiting;
/// a VM name sent over the network is printed with its control characters escaped.
/// </summary>
public sealed class MigrateListenTests : IDisposable
{
    private readonly string _readyFile = Path.Combine(Path.GetTempPath(), $"gmm-listen-test-{Guid.NewGuid():N}.port");

    [Fact]
    public void Bad_sessions_are_reported_one_by_one_and_the_listener_goes_on()
    {
        using Process listener = Start("migrate", "listen", "--port", "0", "--ready-file", _readyFile, "--sessions", "4", "--host-mib", "16", "--json");
        int port = WaitForPort(listener, _readyFile);

        using (var garbage = new TcpClient("127.0.0.1", port))
            garbage.GetStream().Write(Enumerable.Range(0, 1000).Select(i => (byte)(i * 37 + 11)).ToArray());
        using (new TcpClient("127.0.0.1", port)) { } // connects and closes at once
        GmmOutcome refused = RunOutcome("migrate", "send", "--to", $"127.0.0.1:{port}", "--ram-mib", "48", "--random-mib", "32");
        GmmOutcome good = RunOutcome("migrate", "send", "--to", $"127.0.0.1:{port}", "--ram-mib", "8", "--random-mib", "2", "--json");
        GmmOutcome listened = Outcome(listener);

        Assert.True(refused.ExitCode == 2, refused.All);
        Assert.True(good.ExitCode == 0, good.All);
        Assert.True(listened.ExitCode == 2, listened.All); // not every session succeeded
        JsonElement received = Assert.Single(JsonLines(listened.Stdout)).GetProperty("result");
        Assert.Equal(4, received.GetProperty("session").GetInt32());
        JsonElement[] errors = [.. JsonLines(listened.Stderr).Select(e => e.GetProperty("error"))];
        Assert.Equal([1, 2, 3], errors.Where(e => e.TryGetProperty("session", out _)).Select(e => e.GetProperty("session").GetInt32()).Order());
        Assert.Equal("MigrationRefused", errors.Single(e => e.TryGetProperty("session", out JsonElement s) && s.GetInt32() == 3).GetProperty("code").GetString());
        Assert.Equal("SessionsFailed", errors[^1].GetProperty("code").GetString());
    }

    [Fact]
    public void A_peer_that_holds_its_session_does_not_block_a_good_move()
    {
        using Process listener = Start("migrate", "listen", "--port", "0", "--ready-file", _readyFile, "--sessions", "2", "--max-concurrent", "2", "--json");
        int port = WaitForPort(listener, _readyFile);

        GmmOutcome good;
        using (var idle = new TcpClient("127.0.0.1", port)) // connected, sends nothing, closes only after the move
            good = RunOutcome("migrate", "send", "--to", $"127.0.0.1:{port}", "--ram-mib", "8", "--random-mib", "2", "--json");
        GmmOutcome listened = Outcome(listener);

        Assert.True(good.ExitCode == 0, good.All);
        Assert.True(listened.ExitCode == 2, listened.All); // the idle peer's session failed when it closed
        Assert.Single(JsonLines(listened.Stdout));
        Assert.Contains(JsonLines(listened.Stderr), e => e.GetProperty("error").GetProperty("code").GetString() == "MigrationConnectionLost");
    }

    [Fact]
    public void A_vm_name_from_the_network_is_printed_with_its_control_characters_escaped()
    {
        using Process listener = Start("migrate", "listen", "--port", "0", "--ready-file", _readyFile, "--host-mib", "16");
        int port = WaitForPort(listener, _readyFile);

        // gmm send refuses such a name itself, so a hostile source is played by hand: a HELLO naming it.
        using (var connection = new MigrationConnection(MigrationEndpoint.Connect("127.0.0.1", port), TimeSpan.FromSeconds(30)))
        {
            var options = new VmOptions { Name = "evil\u001b[2J\u001b]8;;http://x\u0007vm", RamSize = 1 << 20 };
            var hello = new WireWriter();
            new Hello(MigrationMode.Move, options, new StateLayout([new LayoutRange(0, 1 << 20, GuestPageType.Ram, RomWriteMode.Ignore)]), 0, 0).WriteTo(hello);
            connection.Writer.Write(MessageType.Hello, hello.Written);
            Assert.Equal(GmmError.InvalidArgument, Failure.Read(connection.Expect(MessageType.Refuse).Payload, "REFUSE").Error);
        }
        GmmOutcome listened = Outcome(listener);

        Assert.True(listened.ExitCode == 2, listened.All);
        Assert.Contains(@"evil\x1b[2J\x1b]8;;http://x\x07vm", listened.Stderr); // the refusal names the VM
        Assert.DoesNotContain("\u001b", listened.All);
        Assert.DoesNotContain("\u0007", listened.All);
    }

    public void Dispose() => File.Delete(_readyFile);

    private static JsonElement[] JsonLines(string text) =>
        [.. text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone())];
}
