using GuestMemory.Qemu;
using GuestMemory.Qemu.Tests.Support;

namespace GuestMemory.Qemu.Tests.Unit;

/// <summary>
/// <see cref="QmpClient"/> against a peer playing QEMU: the handshake, replies matched by id, typed
/// errors, events, timeouts, and every way the peer can break the protocol or the connection.
/// </summary>
public sealed class QmpClientTests : IDisposable
{
    private const string Greeting = "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, \"package\": \"Debian\"}, \"capabilities\": [\"oob\"]}}\r\n";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly SocketPair _pair = new();

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    public void Dispose() => _pair.Dispose();

    /// <summary>Greets, answers qmp_capabilities, and returns the open client.</summary>
    private async Task<QmpClient> OpenAsync()
    {
        _pair.Send(Greeting);
        Task<QmpClient> open = QmpClient.OpenAsync(_pair.Client, Timeout, Cancel);
        (string execute, long id, _) = await _pair.ReadCommandAsync();
        Assert.Equal("qmp_capabilities", execute);
        _pair.Send($"{{\"return\": {{}}, \"id\": {id}}}\r\n");
        return await open;
    }

    [Fact]
    public async Task The_greeting_gives_the_version_and_capabilities()
    {
        await using QmpClient qmp = await OpenAsync();
        Assert.Equal(new Version(7, 2, 22), qmp.QemuVersion);
        Assert.Equal(["oob"], qmp.Capabilities);
        Assert.True(qmp.IsConnected);
    }

    [Fact]
    public async Task Replies_are_matched_to_their_commands_by_id_even_out_of_order()
    {
        await using QmpClient qmp = await OpenAsync();
        Task<QemuRunState> status = qmp.QueryStatusAsync(Cancel);
        Task<long> balloon = qmp.QueryBalloonAsync(Cancel);
        var sent = new[] { await _pair.ReadCommandAsync(), await _pair.ReadCommandAsync() };
        var byName = sent.ToDictionary(s => s.Execute, s => s.Id);
        _pair.Send($"{{\"return\": {{\"actual\": 1073741824}}, \"id\": {byName["query-balloon"]}}}\n");
        _pair.Send($"{{\"return\": {{\"status\": \"paused\", \"singlestep\": false, \"running\": false}}, \"id\": {byName["query-status"]}}}\n");
        Assert.Equal(new QemuRunState("paused", false), await status);
        Assert.Equal(1L << 30, await balloon);
    }

    [Fact]
    public async Task Commands_send_their_arguments()
    {
        await using QmpClient qmp = await OpenAsync();
        Task save = qmp.PmemsaveAsync(4096, 8192, "/tmp/x.raw", cancel: Cancel);
        (string execute, long id, var args) = await _pair.ReadCommandAsync();
        Assert.Equal("pmemsave", execute);
        Assert.Equal(4096, args.GetProperty("val").GetInt64());
        Assert.Equal(8192, args.GetProperty("size").GetInt64());
        Assert.Equal("/tmp/x.raw", args.GetProperty("filename").GetString());
        _pair.Send($"{{\"return\": {{}}, \"id\": {id}}}\n");
        await save;
    }

    [Fact]
    public async Task An_error_reply_is_a_typed_exception_with_its_class_and_the_connection_goes_on()
    {
        await using QmpClient qmp = await OpenAsync();
        Task balloon = qmp.BalloonAsync(1 << 20, Cancel);
        (_, long id, _) = await _pair.ReadCommandAsync();
        _pair.Send($"{{\"error\": {{\"class\": \"DeviceNotActive\", \"desc\": \"No balloon device has been activated\"}}, \"id\": {id}}}\n");
        QmpCommandException e = await Assert.ThrowsAsync<QmpCommandException>(() => balloon);
        Assert.Equal(("balloon", "DeviceNotActive", QemuError.QmpCommandFailed), (e.Command, e.ErrorClass, e.Error));
        Assert.Contains("No balloon device", e.Description);
        Task stop = qmp.StopAsync(Cancel);
        (_, id, _) = await _pair.ReadCommandAsync();
        _pair.Send($"{{\"return\": {{}}, \"id\": {id}}}\n");
        await stop;
    }

    [Fact]
    public async Task Events_known_and_unknown_reach_handlers_waiters_and_the_stream()
    {
        await using QmpClient qmp = await OpenAsync();
        var seen = new List<string>();
        qmp.EventReceived += e => { lock (seen) seen.Add(e.Name); };
        qmp.EventReceived += _ => throw new InvalidOperationException("a broken handler must not stop the others");
        Task<QmpEvent> stop = qmp.WaitForEventAsync("STOP", Timeout, Cancel);
        _pair.Send("{\"timestamp\": {\"seconds\": 1700000000, \"microseconds\": 5}, \"event\": \"SOMETHING_NEW\", \"data\": {\"x\": 1}}\n");
        _pair.Send("{\"timestamp\": {\"seconds\": 1700000001, \"microseconds\": 0}, \"event\": \"STOP\"}\n");
        QmpEvent e = await stop;
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1700000001), e.Timestamp);
        await using IAsyncEnumerator<QmpEvent> events = qmp.ReadEventsAsync(Cancel).GetAsyncEnumerator(Cancel);
        Assert.True(await events.MoveNextAsync());
        Assert.Equal(1, events.Current.Data.GetProperty("x").GetInt32());
        Assert.True(await events.MoveNextAsync());
        Assert.Equal("STOP", events.Current.Name);
        lock (seen) Assert.Equal(["SOMETHING_NEW", "STOP"], seen);
    }

    [Fact]
    public async Task A_command_that_times_out_fails_alone_and_its_late_reply_is_dropped()
    {
        await using QmpClient qmp = await OpenAsync();
        QemuException e = await Assert.ThrowsAsync<QemuException>(() => qmp.ExecuteAsync("slow", null, TimeSpan.FromMilliseconds(50), Cancel));
        Assert.Equal(QemuError.Timeout, e.Error);
        (_, long lateId, _) = await _pair.ReadCommandAsync();
        Task<QemuRunState> status = qmp.QueryStatusAsync(Cancel);
        (_, long id, _) = await _pair.ReadCommandAsync();
        _pair.Send($"{{\"return\": {{}}, \"id\": {lateId}}}\n");
        _pair.Send($"{{\"return\": {{\"status\": \"running\", \"running\": true}}, \"id\": {id}}}\n");
        Assert.True((await status).Running);
        Assert.True(qmp.IsConnected);
    }

    [Theory]
    [InlineData("this is not json\n")]
    [InlineData("[1, 2, 3]\n")]
    [InlineData("{\"neither\": \"reply nor event\"}\n")]
    [InlineData("{\"return\": {}, \"id\": 999999}\n")]
    [InlineData("{\"return\": {}}\n")]
    [InlineData("{\"return\": {}, \"id\": \"text\"}\n")]
    [InlineData("{\"event\": \"STOP\", \"data\": \n")]
    public async Task A_line_that_breaks_the_protocol_fails_pending_and_later_calls_with_QmpProtocolError(string line)
    {
        await using QmpClient qmp = await OpenAsync();
        Task pending = qmp.StopAsync(Cancel);
        await _pair.ReadCommandAsync();
        _pair.Send(line);
        Assert.Equal(QemuError.QmpProtocolError, (await Assert.ThrowsAsync<QemuException>(() => pending)).Error);
        Assert.False(qmp.IsConnected);
        Assert.Equal(QemuError.QmpProtocolError, (await Assert.ThrowsAsync<QemuException>(() => qmp.ContAsync(Cancel))).Error);
    }

    [Fact]
    public async Task A_line_over_the_limit_is_a_protocol_error_not_unbounded_memory()
    {
        await using QmpClient qmp = await OpenAsync();
        Task pending = qmp.StopAsync(Cancel);
        await _pair.ReadCommandAsync();
        byte[] chunk = new byte[1 << 20];
        chunk.AsSpan().Fill((byte)'x');
        Task flood = Task.Run(() =>
        {
            try { for (int i = 0; i < 20; i++) _pair.Send(chunk); }
            catch (IOException) { /* the client closed the connection: that is the point */ }
        }, Cancel);
        QemuException e = await Assert.ThrowsAsync<QemuException>(() => pending);
        Assert.Equal(QemuError.QmpProtocolError, e.Error);
        Assert.Contains("longer than", e.Message);
        await flood;
    }

    [Fact]
    public async Task A_connection_closed_mid_reply_fails_pending_and_later_calls_with_QmpConnectionLost()
    {
        await using QmpClient qmp = await OpenAsync();
        Task pending = qmp.QueryStatusAsync(Cancel);
        (_, long id, _) = await _pair.ReadCommandAsync();
        _pair.Send($"{{\"return\": {{\"status\": \"runn");
        _pair.ClosePeer();
        Assert.Equal(QemuError.QmpConnectionLost, (await Assert.ThrowsAsync<QemuException>(() => pending)).Error);
        Assert.Equal(QemuError.QmpConnectionLost, (await Assert.ThrowsAsync<QemuException>(() => qmp.StopAsync(Cancel))).Error);
        Assert.Equal(QemuError.QmpConnectionLost, (await Assert.ThrowsAsync<QemuException>(() => qmp.WaitForEventAsync("STOP", Timeout, Cancel))).Error);
        await qmp.Completion;
    }

    [Fact]
    public async Task The_close_reason_replaces_connection_lost_when_the_owner_knows_better()
    {
        await using QmpClient qmp = await OpenAsync();
        qmp.CloseReason = () => new QemuException(QemuError.GuestDied, "QEMU was killed");
        Task pending = qmp.StopAsync(Cancel);
        await _pair.ReadCommandAsync();
        _pair.ClosePeer();
        Assert.Equal(QemuError.GuestDied, (await Assert.ThrowsAsync<QemuException>(() => pending)).Error);
        Assert.Equal(QemuError.GuestDied, (await Assert.ThrowsAsync<QemuException>(() => qmp.StopAsync(Cancel))).Error);
    }

    [Theory]
    [InlineData("")]
    [InlineData("{\"QMP\": {}}\n")]
    [InlineData("not json\n")]
    [InlineData("{\"return\": {}}\n")]
    public async Task A_bad_or_missing_greeting_is_a_typed_error(string greeting)
    {
        if (greeting.Length > 0) _pair.Send(greeting);
        else _pair.ClosePeer();
        QemuException e = await Assert.ThrowsAsync<QemuException>(() => QmpClient.OpenAsync(_pair.Client, Timeout, Cancel));
        Assert.True(e.Error is QemuError.QmpProtocolError or QemuError.QmpConnectionLost, e.Message);
    }

    [Fact]
    public async Task No_greeting_in_time_is_a_timeout()
    {
        QemuException e = await Assert.ThrowsAsync<QemuException>(() => QmpClient.OpenAsync(_pair.Client, TimeSpan.FromMilliseconds(100), Cancel));
        Assert.Equal(QemuError.Timeout, e.Error);
    }

    [Fact]
    public async Task Arguments_are_checked_before_anything_is_sent()
    {
        await using QmpClient qmp = await OpenAsync();
        Assert.Equal(QemuError.InvalidArgument, (await Assert.ThrowsAsync<QemuException>(() => qmp.BalloonAsync(0, Cancel))).Error);
        Assert.Equal(QemuError.InvalidArgument, (await Assert.ThrowsAsync<QemuException>(() => qmp.PmemsaveAsync(-1, 10, "/tmp/x", cancel: Cancel))).Error);
        Assert.Equal(QemuError.InvalidArgument, (await Assert.ThrowsAsync<QemuException>(() => qmp.SetBalloonStatsIntervalAsync("/x", -1, Cancel))).Error);
        Task ping = qmp.ExecuteAsync("query-version", cancel: Cancel);
        Assert.Equal("query-version", (await _pair.ReadCommandAsync()).Execute); // the first line sent after the refused ones
        _pair.ClosePeer();
        await Assert.ThrowsAsync<QemuException>(() => ping);
    }
}
