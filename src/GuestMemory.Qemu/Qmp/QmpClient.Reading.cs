using System.Net.Sockets;
using System.Text.Json;

namespace GuestMemory.Qemu;

/// <summary>The read side of <see cref="QmpClient"/>: the greeting and the reader task.</summary>
public sealed partial class QmpClient
{
    private async Task ReadGreetingAsync(TimeSpan timeout, CancellationToken cancel)
    {
        byte[]? line;
        try
        {
            line = await _reader.ReadLineAsync(cancel).AsTask().WaitAsync(timeout, cancel).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new QemuException(QemuError.Timeout, $"QEMU sent no QMP greeting within {timeout.TotalSeconds:0.#} s");
        }
        catch (Exception e) when (e is IOException or SocketException or InvalidDataException)
        {
            throw new QemuException(QemuError.QmpProtocolError, $"reading the QMP greeting failed: {e.Message}", e);
        }
        if (line == null) throw new QemuException(QemuError.QmpConnectionLost, "the QMP connection closed before QEMU's greeting");
        if (!System.Text.Unicode.Utf8.IsValid(line)) throw new QemuException(QemuError.QmpProtocolError, $"the QMP greeting is not UTF-8: {Excerpt(line)}");
        try
        {
            using JsonDocument greeting = JsonDocument.Parse(line);
            JsonElement qmp = greeting.RootElement.GetProperty("QMP");
            JsonElement qemu = qmp.GetProperty("version").GetProperty("qemu");
            QemuVersion = new Version(qemu.GetProperty("major").GetInt32(), qemu.GetProperty("minor").GetInt32(), qemu.GetProperty("micro").GetInt32());
            Capabilities = qmp.TryGetProperty("capabilities", out JsonElement caps) && caps.ValueKind == JsonValueKind.Array
                ? caps.EnumerateArray().Select(c => c.GetString() ?? "").ToArray() : [];
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or ArgumentException)
        {
            throw new QemuException(QemuError.QmpProtocolError, $"not a QMP greeting: {Excerpt(line)}", e);
        }
    }

    private async Task ReadLoopAsync()
    {
        QemuException? failure = null;
        try
        {
            while (true)
            {
                byte[]? line = await _reader.ReadLineAsync(_stop.Token).ConfigureAwait(false);
                if (line == null) break;
                if (line.Length == 0) continue;
                try
                {
                    failure = Dispatch(line);
                }
                catch (Exception e) when (e is InvalidOperationException or FormatException or ArgumentException or JsonException)
                {
                    // A shape of JSON Dispatch did not foresee: still a protocol error, and every caller hears of it.
                    failure = new QemuException(QemuError.QmpProtocolError, $"QEMU sent a line this client cannot read: {Excerpt(line)}", e);
                }
                if (failure != null) break;
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            return; // Fail() closed the connection: it has told everyone already
        }
        catch (InvalidDataException e)
        {
            failure = new QemuException(QemuError.QmpProtocolError, e.Message, e);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            failure = new QemuException(QemuError.QmpConnectionLost, $"the QMP connection broke: {e.Message}", e);
        }
        Fail(_failures.Explain(failure, "QEMU closed the QMP connection"));
    }

    /// <summary>Handles one line; returns the failure that ends the connection, or null.</summary>
    private QemuException? Dispatch(byte[] line)
    {
        if (!System.Text.Unicode.Utf8.IsValid(line)) // JsonDocument checks strings' UTF-8 only when they are read
            return new QemuException(QemuError.QmpProtocolError, $"QEMU sent a line that is not UTF-8: {Excerpt(line)}");
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(line);
        }
        catch (JsonException e)
        {
            return new QemuException(QemuError.QmpProtocolError, $"QEMU sent a line that is not JSON: {Excerpt(line)}", e);
        }
        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return new QemuException(QemuError.QmpProtocolError, $"QEMU sent JSON that is not an object: {Excerpt(line)}");
            if (root.TryGetProperty("event", out JsonElement name) && name.ValueKind == JsonValueKind.String)
            {
                Deliver(QmpEvent.From(name.GetString()!, root));
                return null;
            }
            bool isReturn = root.TryGetProperty("return", out JsonElement value), isError = root.TryGetProperty("error", out JsonElement error);
            if (!isReturn && !isError) return new QemuException(QemuError.QmpProtocolError, $"QEMU sent neither a reply nor an event: {Excerpt(line)}");
            if (!root.TryGetProperty("id", out JsonElement idElement) || idElement.ValueKind != JsonValueKind.Number || !idElement.TryGetInt64(out long id) || id <= 0 || id > Interlocked.Read(ref _nextId))
                return new QemuException(QemuError.QmpProtocolError, $"QEMU sent a reply to no command this client sent: {Excerpt(line)}");
            if (!_pending.TryGetValue(id, out PendingCommand? waiter)) return null; // the late reply of a command that timed out
            if (isReturn) waiter.Reply.TrySetResult(value.Clone());
            else waiter.Reply.TrySetException(ErrorOf(waiter.Name, error));
            return null;
        }
    }

    private static QmpCommandException ErrorOf(string command, JsonElement error)
    {
        string errorClass = error.ValueKind == JsonValueKind.Object && error.TryGetProperty("class", out JsonElement c) && c.ValueKind == JsonValueKind.String ? c.GetString()! : "(no class)";
        string description = error.ValueKind == JsonValueKind.Object && error.TryGetProperty("desc", out JsonElement d) && d.ValueKind == JsonValueKind.String ? d.GetString()! : "(no description)";
        return new QmpCommandException(command, errorClass, description);
    }

    private void Deliver(QmpEvent e)
    {
        _events.Writer.TryWrite(e);
        Action<QmpEvent>? handlers = EventReceived;
        if (handlers == null) return;
        foreach (Action<QmpEvent> handler in handlers.GetInvocationList().Cast<Action<QmpEvent>>())
        {
            try { handler(e); }
            catch (Exception ex) when (ex is not OutOfMemoryException) { /* a handler's failure is its own (see the type's note) */ }
        }
    }

    /// <summary>The start of a line for an error message, printable.</summary>
    internal static string Excerpt(byte[] line)
    {
        string text = System.Text.Encoding.UTF8.GetString(line, 0, Math.Min(line.Length, 200));
        text = new string(text.Select(ch => char.IsControl(ch) ? '?' : ch).ToArray());
        return line.Length > 200 ? text + $"... ({line.Length} bytes)" : text;
    }
}
