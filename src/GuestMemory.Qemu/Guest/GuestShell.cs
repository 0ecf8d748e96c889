using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;

namespace GuestMemory.Qemu;

/// <summary>What a guest command answered: its exit status and its output lines (stdout and stderr together).</summary>
public sealed record GuestReply(int Status, IReadOnlyList<string> Lines)
{
    /// <summary>The output as one text, lines joined with newlines.</summary>
    public string Text => string.Join('\n', Lines);
}

/// <summary>
/// The host's end of a guest's command channel (the guest's second serial port, served by the init
/// script of <see cref="GuestImage"/>; wire format in <see cref="GuestShellProtocol"/>). The typed
/// commands are in <c>GuestShell.Commands.cs</c>.
/// </summary>
/// <remarks>
/// <para><b>Threads.</b> The guest runs one command at a time, so commands are serialised by
/// <c>_gate</c>; a reader task parses the guest's lines into replies and hands them over through a
/// channel. A command that times out fails with <see cref="QemuError.Timeout"/> but leaves the channel
/// usable: its late reply carries its id and is dropped when it arrives (the next command waits behind
/// it in the guest).</para>
/// <para><b>Failures.</b> A malformed line, a reply nobody asked for, or the end of the channel closes it:
/// every pending and later command fails with <see cref="QemuError.GuestChannelBroken"/> (or what
/// <see cref="CloseReason"/> says, such as <see cref="QemuError.GuestDied"/>).</para>
/// </remarks>
public sealed partial class GuestShell : IAsyncDisposable
{
    /// <summary>How long a command may run unless told otherwise (generous: guests run under TCG).</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(120);

    private readonly Stream _stream;
    private readonly LineReader _reader;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Channel<(GuestShellProtocol.Header Header, List<string> Lines)> _replies = Channel.CreateUnbounded<(GuestShellProtocol.Header, List<string>)>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly TaskCompletionSource<double> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();
    private readonly ChannelFailure _failures = new(QemuError.GuestChannelBroken);
    private readonly Task _readLoop;
    private long _nextId;

    /// <summary>Starts reading the guest's side of <paramref name="stream"/> (which the shell then owns).</summary>
    public GuestShell(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        _stream = stream;
        _reader = new LineReader(stream, GuestShellProtocol.MaxLineBytes);
        _readLoop = Task.Run(ReadLoopAsync);
    }

    /// <summary>Asked on the reader task why the channel ended (see <see cref="QmpClient.CloseReason"/>).</summary>
    public Func<QemuException?>? CloseReason { get => _failures.CloseReason; set => _failures.CloseReason = value; }

    /// <summary>True once the guest said it is ready.</summary>
    public bool IsReady => _ready.Task.IsCompletedSuccessfully;

    /// <summary>Marks the channel ready without a <c>#ready</c> line: for a guest resumed from a migration, which sent it on its source.</summary>
    internal void MarkReadyWithoutBoot() => _ready.TrySetResult(0);

    /// <summary>Waits for the guest's <c>#ready</c> line and returns the guest's uptime then (seconds since its kernel started).</summary>
    /// <exception cref="QemuException"><see cref="QemuError.Timeout"/>, or the channel's failure.</exception>
    public async Task<double> WaitReadyAsync(TimeSpan timeout, CancellationToken cancel = default)
    {
        try
        {
            return await _ready.Task.WaitAsync(timeout, cancel).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new QemuException(QemuError.Timeout, $"the guest did not report ready on its command channel within {timeout.TotalSeconds:0.#} s");
        }
    }

    /// <summary>
    /// Runs one command in the guest and returns its status and output; a non-zero status is an error
    /// unless <paramref name="allowFailure"/>.
    /// </summary>
    /// <exception cref="QemuException"><see cref="QemuError.GuestCommandFailed"/> (status not 0),
    /// <see cref="QemuError.Timeout"/>, <see cref="QemuError.InvalidArgument"/> (a word the channel cannot
    /// carry), or the channel's failure.</exception>
    public async Task<GuestReply> RunAsync(string command, IReadOnlyList<string>? arguments = null, TimeSpan? timeout = null, bool allowFailure = false, CancellationToken cancel = default)
    {
        IReadOnlyList<string> words = arguments ?? [];
        GuestShellProtocol.FormatRequest(1, command, words); // checks every word before anything is sent
        return await SendAsync(id => GuestShellProtocol.FormatRequest(id, command, words), command, timeout, allowFailure, cancel).ConfigureAwait(false);
    }

    /// <summary>Sends the request <paramref name="format"/> makes for the next id, and waits for its reply.</summary>
    private async Task<GuestReply> SendAsync(Func<long, string> format, string what, TimeSpan? timeout, bool allowFailure, CancellationToken cancel)
    {
        TimeSpan limit = timeout ?? DefaultTimeout;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        deadline.CancelAfter(limit);
        try
        {
            await _gate.WaitAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
        {
            throw new QemuException(QemuError.Timeout, $"guest command '{what}' could not start within {limit.TotalSeconds:0.#} s (an earlier command still runs)");
        }
        try
        {
            ThrowIfFailed();
            long id = Interlocked.Increment(ref _nextId); // under the gate: ids go out in order
            try
            {
                await _stream.WriteAsync(Encoding.UTF8.GetBytes(format(id) + "\n"), deadline.Token).ConfigureAwait(false);
                await _stream.FlushAsync(deadline.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
            {
                ThrowIfFailed();
                throw new QemuException(QemuError.GuestChannelBroken, $"sending '{what}' to the guest failed: {e.Message}", e);
            }
            while (true)
            {
                (GuestShellProtocol.Header header, List<string> lines) reply;
                try
                {
                    reply = await _replies.Reader.ReadAsync(deadline.Token).ConfigureAwait(false);
                }
                catch (ChannelClosedException)
                {
                    ThrowIfFailed();
                    throw new QemuException(QemuError.GuestChannelBroken, "the guest's command channel closed");
                }
                catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
                {
                    throw new QemuException(QemuError.Timeout, $"guest command '{what}' did not finish within {limit.TotalSeconds:0.#} s");
                }
                if (reply.header.Id < id) continue; // the late reply of a command that timed out
                if (reply.header.Id > id) throw Broken($"the guest answered command {reply.header.Id}, which was never sent (waiting for {id})");
                var result = new GuestReply(reply.header.Status, reply.lines);
                if (result.Status != 0 && !allowFailure)
                    throw new QemuException(QemuError.GuestCommandFailed, $"guest command '{what}' exited with {result.Status}: {Tail(result.Text)}");
                return result;
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Ends the channel with <paramref name="reason"/>; every pending and later command fails with it. No-op once failed.</summary>
    public void Fail(QemuException reason)
    {
        ArgumentNullException.ThrowIfNull(reason);
        if (!_failures.TrySet(reason)) return;
        _ready.TrySetException(reason.Recreate());
        _replies.Writer.TryComplete();
        _stop.Cancel();
        _stream.Dispose();
    }

    /// <summary>Closes the channel and waits for its reader.</summary>
    public async ValueTask DisposeAsync()
    {
        Fail(new QemuException(QemuError.GuestChannelBroken, "the guest shell was disposed"));
        await _readLoop.ConfigureAwait(false);
        _ = _ready.Task.Exception; // observed: nobody may have waited for ready
    }

    private QemuException Broken(string why)
    {
        var failure = new QemuException(QemuError.GuestChannelBroken, why);
        Fail(failure);
        return failure.Recreate();
    }

    private void ThrowIfFailed() => _failures.ThrowIfFailed();

    private static string Tail(string text) => text.Length <= 400 ? text : "..." + text[^400..];

    private async Task ReadLoopAsync()
    {
        QemuException? failure;
        try
        {
            failure = await ReadRepliesAsync().ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            return;
        }
        catch (InvalidDataException e)
        {
            failure = new QemuException(QemuError.GuestChannelBroken, $"the guest's command channel: {e.Message}", e);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            failure = new QemuException(QemuError.GuestChannelBroken, $"the guest's command channel broke: {e.Message}", e);
        }
        Fail(_failures.Explain(failure, "the guest's command channel closed"));
    }

    /// <summary>Reads frames until the end (null) or a line that breaks the protocol (its failure).</summary>
    private async Task<QemuException?> ReadRepliesAsync()
    {
        while (true)
        {
            string? line = await NextLineAsync().ConfigureAwait(false);
            if (line == null) return null;
            if (line.Length == 0) continue; // a blank line (a serial port's stray newline) carries nothing
            if (GuestShellProtocol.ParseReady(line) is double uptime)
            {
                _ready.TrySetResult(uptime);
                continue;
            }
            if (GuestShellProtocol.ParseHeader(line) is not GuestShellProtocol.Header header)
                return new QemuException(QemuError.GuestChannelBroken, $"the guest sent a line that is no reply header: {QmpClient.Excerpt(Encoding.UTF8.GetBytes(line))}");
            if (header.Id > Interlocked.Read(ref _nextId))
                return new QemuException(QemuError.GuestChannelBroken, $"the guest answered command {header.Id}, which was never sent");
            var lines = new List<string>(Math.Min(header.Lines, 4096));
            for (int i = 0; i < header.Lines; i++)
            {
                string? output = await NextLineAsync().ConfigureAwait(false);
                if (output == null) return null;
                if (GuestShellProtocol.ParseOutput(output) is not string text)
                    return new QemuException(QemuError.GuestChannelBroken, $"reply {header.Id} announced {header.Lines} lines but line {i + 1} is no output line: {QmpClient.Excerpt(Encoding.UTF8.GetBytes(output))}");
                lines.Add(text);
            }
            _replies.Writer.TryWrite((header, lines));
        }
    }

    private async Task<string?> NextLineAsync()
    {
        byte[]? line = await _reader.ReadLineAsync(_stop.Token).ConfigureAwait(false);
        return line == null ? null : Encoding.UTF8.GetString(line);
    }
}
