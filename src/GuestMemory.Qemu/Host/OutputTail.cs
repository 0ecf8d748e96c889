using System.Diagnostics;

namespace GuestMemory.Qemu;

/// <summary>
/// Drains a process's standard output and error (so it never blocks on a full pipe) and keeps the last
/// lines for error messages. Thread-safe: the two readers and <see cref="Text"/> share <c>_lines</c> under <c>_lock</c>.
/// </summary>
internal sealed class OutputTail
{
    private const int KeepLines = 12;
    private readonly Queue<string> _lines = new();
    private readonly Lock _lock = new();

    public OutputTail(Process process)
    {
        Completion = Task.WhenAll(Drain(process.StandardOutput), Drain(process.StandardError));
    }

    /// <summary>Completes when both streams have ended.</summary>
    public Task Completion { get; }

    /// <summary>The last lines, joined with " | ".</summary>
    public string Text
    {
        get { lock (_lock) return string.Join(" | ", _lines); }
    }

    private async Task Drain(StreamReader reader)
    {
        try
        {
            while (await reader.ReadLineAsync().ConfigureAwait(false) is string line)
            {
                if (line.Length > 500) line = line[..500] + "...";
                lock (_lock)
                {
                    _lines.Enqueue(line);
                    while (_lines.Count > KeepLines) _lines.Dequeue();
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // the process ended and its pipes closed
        }
    }
}
