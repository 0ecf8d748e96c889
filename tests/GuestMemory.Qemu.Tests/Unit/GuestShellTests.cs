using GuestMemory.Qemu;
using GuestMemory.Qemu.Tests.Support;

namespace GuestMemory.Qemu.Tests.Unit;

/// <summary><see cref="GuestShell"/> against a peer playing the guest's init script.</summary>
public sealed class GuestShellTests : IDisposable
{
    private readonly SocketPair _pair = new();
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    public void Dispose() => _pair.Dispose();

    [Fact]
    public async Task Ready_then_a_command_with_its_output_lines()
    {
        await using var shell = new GuestShell(_pair.Client);
        Assert.False(shell.IsReady);
        _pair.Send("\n#ready 4.56\n");
        Assert.Equal(4.56, await shell.WaitReadyAsync(TimeSpan.FromSeconds(30), Cancel));
        Task<GuestMemInfo> info = shell.MemInfoAsync(Cancel);
        Assert.Equal("1 meminfo", await _pair.ReadLineAsync());
        _pair.Send("=1 0 3\r\n|MemTotal:  1000 kB\n|MemFree: 10 kB\n|HugePages_Total: 0\n");
        GuestMemInfo m = await info;
        Assert.Equal((1000L * 1024, 10L * 1024, 0L), (m.TotalBytes, m.FreeBytes, m.Get("HugePages_Total")));
        Assert.Equal(QemuError.GuestChannelBroken, Assert.Throws<QemuException>(() => m.Get("Nothing")).Error);
    }

    [Fact]
    public async Task Requests_carry_checked_words_and_scripts_verbatim()
    {
        await using var shell = new GuestShell(_pair.Client);
        Task fill = shell.FillAsync("data", 8, FillKind.Text, "seed-1", cancel: Cancel);
        Assert.Equal("1 fill data 8 text seed-1", await _pair.ReadLineAsync());
        _pair.Send("=1 0 0\n");
        await fill;
        Task<GuestReply> script = shell.ShellAsync("echo  'two  spaces' | tr a b", cancel: Cancel);
        Assert.Equal("2 sh echo  'two  spaces' | tr a b", await _pair.ReadLineAsync());
        _pair.Send("=2 0 1\n|two  spbces\n");
        Assert.Equal("two  spbces", (await script).Text);
        foreach (string bad in new[] { "two words", "semi;colon", "$(x)", "", new string('a', 257), "new\nline" })
            Assert.Equal(QemuError.InvalidArgument, (await Assert.ThrowsAsync<QemuException>(() => shell.FillAsync(bad, 1, FillKind.Zero, cancel: Cancel))).Error);
        Assert.Equal(QemuError.InvalidArgument, (await Assert.ThrowsAsync<QemuException>(() => shell.ShellAsync("a\nb", cancel: Cancel))).Error);
        Assert.Equal(QemuError.InvalidArgument, (await Assert.ThrowsAsync<QemuException>(() => shell.FillAsync("x", 0, FillKind.Zero, cancel: Cancel))).Error);
        Assert.Equal(QemuError.InvalidArgument, (await Assert.ThrowsAsync<QemuException>(() => shell.FillAsync("x", 1, FillKind.Byte, "256", cancel: Cancel))).Error);
        Assert.Equal(QemuError.InvalidArgument, (await Assert.ThrowsAsync<QemuException>(() => shell.IdleAsync(-1, Cancel))).Error);
    }

    [Fact]
    public async Task A_non_zero_status_is_GuestCommandFailed_with_the_output()
    {
        await using var shell = new GuestShell(_pair.Client);
        Task<GuestReply> run = shell.RunAsync("free", ["x"], cancel: Cancel);
        await _pair.ReadLineAsync();
        _pair.Send("=1 1 1\n|rm: cannot remove\n");
        QemuException e = await Assert.ThrowsAsync<QemuException>(() => run);
        Assert.Equal(QemuError.GuestCommandFailed, e.Error);
        Assert.Contains("cannot remove", e.Message);
    }

    [Fact]
    public async Task A_timed_out_command_does_not_break_the_channel_its_late_reply_is_skipped()
    {
        await using var shell = new GuestShell(_pair.Client);
        Task<GuestReply> slow = shell.RunAsync("idle", ["5"], TimeSpan.FromMilliseconds(50), cancel: Cancel);
        await _pair.ReadLineAsync();
        Assert.Equal(QemuError.Timeout, (await Assert.ThrowsAsync<QemuException>(() => slow)).Error);
        Task<string> echo = shell.EchoAsync(["hi"], Cancel);
        Assert.Equal("2 echo hi", await _pair.ReadLineAsync());
        _pair.Send("=1 0 1\n|late\n=2 0 1\n|hi\n");
        Assert.Equal("hi", await echo);
    }

    [Theory]
    [InlineData("garbage\n")]
    [InlineData("=9 0 0\n")]
    [InlineData("=1 0 2\n|one\nnot an output line\n")]
    public async Task A_line_that_breaks_the_framing_fails_the_channel_for_every_later_command(string reply)
    {
        await using var shell = new GuestShell(_pair.Client);
        Task<GuestReply> run = shell.RunAsync("ping", cancel: Cancel);
        await _pair.ReadLineAsync();
        _pair.Send(reply);
        Assert.Equal(QemuError.GuestChannelBroken, (await Assert.ThrowsAsync<QemuException>(() => run)).Error);
        Assert.Equal(QemuError.GuestChannelBroken, (await Assert.ThrowsAsync<QemuException>(() => shell.PingAsync(cancel: Cancel))).Error);
        Assert.Equal(QemuError.GuestChannelBroken, (await Assert.ThrowsAsync<QemuException>(() => shell.WaitReadyAsync(TimeSpan.FromSeconds(5), Cancel))).Error);
    }

    [Fact]
    public async Task A_closed_channel_fails_with_the_close_reason()
    {
        await using var shell = new GuestShell(_pair.Client) { CloseReason = () => new QemuException(QemuError.GuestDied, "gone") };
        Task<GuestReply> run = shell.RunAsync("ping", cancel: Cancel);
        await _pair.ReadLineAsync();
        _pair.Send("=1 0 3\n|only one of three");
        _pair.ClosePeer();
        Assert.Equal(QemuError.GuestDied, (await Assert.ThrowsAsync<QemuException>(() => run)).Error);
    }

    [Fact]
    public void Text_pages_are_the_seed_and_index_repeated_and_cut_at_4096_bytes()
    {
        byte[] page = GuestWorkload.TextPage("ab", 7);
        Assert.Equal(4096, page.Length);
        string text = System.Text.Encoding.ASCII.GetString(page);
        Assert.StartsWith("ab:00000007;ab:00000007;", text);
        Assert.Equal(string.Concat(Enumerable.Repeat("ab:00000007;", 342))[..4096], text);
        Assert.NotEqual(page, GuestWorkload.TextPage("ab", 8));
        Assert.Equal(QemuError.InvalidArgument, Assert.Throws<QemuException>(() => GuestWorkload.TextPage("a b", 0)).Error);
        Assert.Equal(QemuError.InvalidArgument, Assert.Throws<QemuException>(() => GuestWorkload.TextPage("a", -1)).Error);
    }
}
