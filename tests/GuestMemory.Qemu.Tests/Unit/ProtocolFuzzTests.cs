using System.Text;
using GuestMemory.Qemu;
using GuestMemory.Qemu.Tests.Support;

namespace GuestMemory.Qemu.Tests.Unit;

/// <summary>
/// Fuzzing of what this layer parses from outside: QEMU's QMP lines and the guest's command replies.
/// Valid lines are mutated (bytes flipped, cut, duplicated, random bytes inserted) and fed to a client
/// with a command pending; whatever arrives, the pending call ends with its reply or a typed
/// <see cref="QemuException"/>, never another exception and never a hang. The seeds are fixed, so a
/// failure repeats.
/// </summary>
public sealed class ProtocolFuzzTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    private static readonly string[] QmpLines =
    [
        "{\"return\": {\"status\": \"running\", \"running\": true}, \"id\": 2}",
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no\"}, \"id\": 2}",
        "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"STOP\", \"data\": {\"a\": [1, 2]}}",
        "{\"return\": {}, \"id\": 1}",
    ];

    private static readonly string[] ShellLines = ["#ready 1.25", "=1 0 2", "|line one", "|", "=1 3 0"];

    [Fact]
    public async Task Mutated_QMP_lines_end_every_call_with_a_reply_or_a_typed_error()
    {
        var random = new Random(1601);
        for (int round = 0; round < 150; round++)
        {
            using var pair = new SocketPair();
            pair.Send("{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}}, \"capabilities\": []}}\n");
            Task<QmpClient> open = QmpClient.OpenAsync(pair.Client, Bound, Cancel);
            await pair.ReadCommandAsync();
            pair.Send("{\"return\": {}, \"id\": 1}\n");
            await using QmpClient qmp = await open;
            Task<QemuRunState> pending = qmp.QueryStatusAsync(Cancel);
            await pair.ReadCommandAsync();
            foreach (byte[] line in Mutations(random, QmpLines, 3)) SendQuietly(pair, line);
            pair.ClosePeer();
            await ExpectReplyOrTypedError(pending, round);
        }
    }

    [Fact]
    public async Task Mutated_guest_replies_end_every_command_with_a_reply_or_a_typed_error()
    {
        var random = new Random(1602);
        for (int round = 0; round < 150; round++)
        {
            using var pair = new SocketPair();
            await using var shell = new GuestShell(pair.Client);
            Task<GuestReply> pending = shell.RunAsync("ping", null, Bound, allowFailure: true, cancel: Cancel);
            await pair.ReadLineAsync();
            foreach (byte[] line in Mutations(random, ShellLines, 4)) SendQuietly(pair, line);
            pair.ClosePeer();
            await ExpectReplyOrTypedError(pending, round);
        }
    }

    [Fact]
    public void Header_parsing_takes_exactly_the_well_formed_headers()
    {
        Assert.Equal(new GuestShellProtocol.Header(12, 0, 3), GuestShellProtocol.ParseHeader("=12 0 3"));
        foreach (string bad in new[] { "", "=", "=1 0", "=1 0 3 4", "=0 0 0", "=-1 0 0", "=1 256 0", "=1 0 -1", "=1 0 99999999999", "= 1 0 0", "=1  0 0", "12 0 3", "=1 0 3\0", "=１ 0 0" })
            Assert.Null(GuestShellProtocol.ParseHeader(bad));
        Assert.Equal(3.5, GuestShellProtocol.ParseReady("#ready 3.5"));
        Assert.Null(GuestShellProtocol.ParseReady("#ready -1"));
        Assert.Null(GuestShellProtocol.ParseReady("#ready"));
        Assert.Equal("", GuestShellProtocol.ParseOutput("|"));
        Assert.Null(GuestShellProtocol.ParseOutput("x|"));
    }

    private static async Task ExpectReplyOrTypedError<T>(Task<T> pending, int round)
    {
        try
        {
            await pending.WaitAsync(Bound, Cancel);
        }
        catch (QemuException)
        {
            // a typed error: what hostile input must give
        }
        catch (TimeoutException)
        {
            Assert.Fail($"round {round}: the call hung");
        }
    }

    private static void SendQuietly(SocketPair pair, byte[] bytes)
    {
        try { pair.Send(bytes); }
        catch (IOException) { /* the client closed on an earlier line */ }
    }

    /// <summary>A few lines, each a valid line mutated or left alone, or random bytes.</summary>
    private static IEnumerable<byte[]> Mutations(Random random, string[] lines, int count)
    {
        for (int i = 0; i < count; i++)
        {
            byte[] line = Encoding.UTF8.GetBytes(lines[random.Next(lines.Length)]);
            switch (random.Next(6))
            {
                case 0: break; // as it is
                case 1: line[random.Next(line.Length)] = (byte)random.Next(256); break;
                case 2: line = line[..random.Next(line.Length)]; break;
                case 3: line = [.. line, .. line]; break;
                case 4:
                    byte[] noise = new byte[random.Next(1, 64)];
                    random.NextBytes(noise);
                    line = [.. line[..(line.Length / 2)], .. noise, .. line[(line.Length / 2)..]];
                    break;
                default: line = Encoding.UTF8.GetBytes(new string('{', random.Next(1, 2000))); break;
            }
            yield return [.. line, (byte)'\n'];
        }
    }
}
