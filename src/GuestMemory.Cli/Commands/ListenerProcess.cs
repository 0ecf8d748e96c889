using System.Diagnostics;
using System.Text.Json;

namespace GuestMemory.Cli.Commands;

/// <summary>
/// A second GuestMemory host for <c>gmm bench migrate</c>: this same <c>gmm</c> started as
/// <c>gmm migrate listen --json</c> in a process of its own, on loopback. It tells its port through a
/// ready file; its JSON result lines (one per received VM) are collected for the report. Killed if still running when disposed.
/// </summary>
internal sealed class ListenerProcess : IDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private readonly Process _process;
    private readonly string _readyFile = Path.Combine(Path.GetTempPath(), $"gmm-listen-{Environment.ProcessId}-{Guid.NewGuid():N}.port");
    private readonly List<string> _lines = [];
    private readonly List<string> _errors = [];

    public ListenerProcess(IEnumerable<string> listenArguments)
    {
        var start = new ProcessStartInfo { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        string self = Environment.ProcessPath ?? throw new InvalidOperationException("cannot tell which program this is");
        start.FileName = self;
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") start.ArgumentList.Add(typeof(ListenerProcess).Assembly.Location);
        foreach (string a in (string[])["migrate", "listen", "--port", "0", "--ready-file", _readyFile, "--json", .. listenArguments]) start.ArgumentList.Add(a);
        _process = Process.Start(start) ?? throw new InvalidOperationException("the listener process did not start");
        _process.OutputDataReceived += (_, e) => { if (e.Data != null) lock (_lines) _lines.Add(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (_errors) _errors.Add(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        Port = WaitForPort();
    }

    /// <summary>Where the listener accepts.</summary>
    public int Port { get; }

    /// <summary>Waits for the listener to finish and returns the <c>result</c> of its JSON documents, one per received VM.</summary>
    /// <exception cref="GmmException">It failed: its own error line is the message.</exception>
    public IReadOnlyList<JsonElement> Finish(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout)) throw new TimeoutException($"the listener did not finish within {timeout}");
        _process.WaitForExit(); // flushes the output readers
        if (_process.ExitCode != 0) throw new GmmException(GmmError.MigrationAborted, $"the listener failed (exit {_process.ExitCode}): {string.Join(" ", _errors.Concat(_lines))}");
        lock (_lines)
            return _lines.Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("result").Clone()).ToArray();
    }

    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.Dispose();
        File.Delete(_readyFile);
    }

    private int WaitForPort()
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < StartTimeout)
        {
            if (File.Exists(_readyFile) && int.TryParse(File.ReadAllText(_readyFile), out int port)) return port;
            if (_process.HasExited) throw new GmmException(GmmError.MigrationConnectionLost, $"the listener exited ({_process.ExitCode}) before it listened: {string.Join(" ", _errors)}");
            Thread.Sleep(20);
        }
        throw new TimeoutException($"the listener did not say where it listens within {StartTimeout}");
    }
}
