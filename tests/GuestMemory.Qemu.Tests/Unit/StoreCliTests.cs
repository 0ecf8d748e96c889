using System.Net.Sockets;
using GuestMemory.Qemu.Tests.Support;

namespace GuestMemory.Qemu.Tests.Unit;

/// <summary>
/// <c>gmm qemu store</c> and <c>gmm qemu resume</c> as a user runs them, fed a recorded real QEMU stream
/// over TCP: listen stores it on disk, list shows it from another process, delete removes it; Ctrl+C ends
/// a listener with 130; bad options and typed errors as the other commands report them.
/// </summary>
public sealed class StoreCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gmm-store-cli-").FullName;
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task A_stream_sent_to_the_listener_is_stored_listed_and_deleted()
    {
        string store = Path.Combine(_dir, "store"), ready = Path.Combine(_dir, "port");
        using (GmmCommand listen = GmmCommand.Start("qemu", "store", "listen", "--port", "0", "--dir", store, "--count", "1", "--ready-file", ready, "--name", "bios", "--json"))
        {
            int port = await ReadPortAsync(ready, listen);
            using (var client = new TcpClient())
            {
                await client.ConnectAsync("127.0.0.1", port, Cancel);
                await client.GetStream().WriteAsync(RecordedStream.Get(), Cancel);
            }
            Assert.True(listen.WaitForExit(TimeSpan.FromMinutes(1)) == 0, listen.Output);
            Assert.Contains("\"name\": \"bios-1\"", listen.Output.Replace("\":\"", "\": \""));
        }

        (int exit, string output) = GmmCommand.Run("qemu", "store", "list", "--dir", store, "--json");
        Assert.True(exit == 0, output);
        Assert.Contains("\"command\": \"qemu store list\"", output);
        Assert.Contains("bios-1", output);
        Assert.Contains("pc-i440fx-7.2", output);

        // A QEMU without a memory backend (main block pc.ram) cannot become a guest of gmm's own.
        (exit, output) = GmmCommand.Run("qemu", "resume", "bios-1", "--dir", store, "--run");
        Assert.True(exit == 2, output);
        Assert.Contains("InvalidArgument", output);
        Assert.Contains("ram0", output);

        (exit, output) = GmmCommand.Run("qemu", "store", "delete", "bios-1", "--dir", store);
        Assert.True(exit == 0, output);
        (exit, output) = GmmCommand.Run("qemu", "store", "delete", "bios-1", "--dir", store);
        Assert.True(exit == 2, output);
        Assert.Contains("StoredVmNotFound", output);
    }

    [Fact]
    public async Task Ctrl_C_ends_a_listener_with_130()
    {
        string ready = Path.Combine(_dir, "port");
        using GmmCommand listen = GmmCommand.Start("qemu", "store", "listen", "--port", "0", "--ready-file", ready);
        await ReadPortAsync(ready, listen);
        listen.Signal(2);
        Assert.Equal(130, listen.WaitForExit(TimeSpan.FromMinutes(1)));
    }

    [Fact]
    public void Every_store_command_has_help()
    {
        foreach (string[] args in new[] { new[] { "qemu", "store", "--help" }, ["qemu", "store", "listen", "--help"], ["qemu", "store", "list", "--help"],
                     ["qemu", "store", "delete", "--help"], ["qemu", "store", "move", "--help"], ["qemu", "resume", "--help"], ["bench", "qemu-store", "--help"] })
        {
            (int exit, string output) = GmmCommand.Run(args);
            Assert.True(exit == 0, output);
            Assert.Contains("Usage:", output);
        }
    }

    [Theory]
    [InlineData("qemu", "resume", "x", "--dir", "/tmp", "--to", "nohost")]
    [InlineData("qemu", "resume", "x", "--dir", "/tmp", "--to", "h:70000")]
    [InlineData("qemu", "resume", "x", "--dir", "/tmp")]
    [InlineData("qemu", "resume", "x", "--dir", "/tmp", "--to", "h:1", "--run")]
    [InlineData("qemu", "resume", "x", "--dir", "/tmp", "--to", "h:1", "--name", "g")]
    [InlineData("qemu", "resume", "x", "--dir", "/tmp", "--run", "--name", "no good")]
    [InlineData("qemu", "resume", "x", "--dir", "/tmp", "--to", "h:1", "--accel", "tcg")]
    [InlineData("qemu", "resume", "x", "--dir", "/tmp", "--run", "--cpus", "0")]
    [InlineData("qemu", "resume", "x", "--dir", "/tmp", "--run", "--duration", "-1")]
    [InlineData("qemu", "resume", "x", "--dir", "/tmp", "--run", "--accel", "warp")]
    [InlineData("qemu", "store", "listen", "--port", "-1")]
    [InlineData("qemu", "store", "list")]
    [InlineData("qemu", "store", "listen", "--port", "0", "--relay-to", "nohost")]
    [InlineData("qemu", "store", "listen", "--port", "0", "--resume-to", "h:0")]
    [InlineData("qemu", "store", "listen", "--port", "0", "--resume-to", "h:1", "--resume-here")]
    [InlineData("qemu", "store", "listen", "--port", "0", "--cpus", "2")]
    [InlineData("qemu", "store", "listen", "--port", "0", "--resume-here", "--cpus", "99")]
    public void A_bad_option_is_one_short_line_and_exit_1(params string[] args)
    {
        (int exit, string output) = GmmCommand.Run(args);
        Assert.True(exit == 1, output);
        Assert.StartsWith("gmm:", output.TrimStart());
    }

    [Fact]
    public void Resuming_from_a_missing_folder_or_to_nobody_is_a_typed_error_with_exit_2()
    {
        (int exit, string output) = GmmCommand.Run("qemu", "resume", "x", "--dir", Path.Combine(_dir, "none"), "--to", "127.0.0.1:1");
        Assert.True(exit == 2, output);
        Assert.Contains("InvalidArgument", output);
        Directory.CreateDirectory(Path.Combine(_dir, "empty"));
        (exit, output) = GmmCommand.Run("qemu", "resume", "x", "--dir", Path.Combine(_dir, "empty"), "--to", "127.0.0.1:1");
        Assert.True(exit == 2, output);
        Assert.Contains("StoredVmNotFound", output);
    }

    private static async Task<int> ReadPortAsync(string file, GmmCommand gmm)
    {
        for (int i = 0; i < 600 && !File.Exists(file); i++)
        {
            await Task.Delay(100, Cancel);
            Assert.True(!gmm.Output.Contains("gmm:", StringComparison.Ordinal), gmm.Output);
        }
        return int.Parse(await File.ReadAllTextAsync(file, Cancel), System.Globalization.CultureInfo.InvariantCulture);
    }
}
