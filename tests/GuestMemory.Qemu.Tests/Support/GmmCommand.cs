using System.Diagnostics;
using System.Text;

namespace GuestMemory.Qemu.Tests.Support;

/// <summary>The real <c>gmm</c> command as a process of its own (built into this test's output folder), as a user runs it.</summary>
internal sealed class GmmCommand : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly Task _drained;

    private GmmCommand(Process process)
    {
        _process = process;
        _drained = Task.WhenAll(Drain(process.StandardOutput), Drain(process.StandardError));
    }

    public int Pid => _process.Id;

    /// <summary>Everything it printed so far (standard output and error together).</summary>
    public string Output { get { lock (_output) return _output.ToString(); } }

    public static GmmCommand Start(params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "gmm.dll"));
        foreach (string a in arguments) start.ArgumentList.Add(a);
        start.Environment["NO_COLOR"] = "1";
        return new GmmCommand(Process.Start(start)!);
    }

    /// <summary>Runs gmm to its end (at most 3 minutes) and returns its exit code and output.</summary>
    public static (int Exit, string Output) Run(params string[] arguments)
    {
        using GmmCommand gmm = Start(arguments);
        return (gmm.WaitForExit(TimeSpan.FromMinutes(3)), gmm.Output);
    }

    /// <summary>Waits until its output contains <paramref name="text"/>; fails when it exits first or after <paramref name="seconds"/>.</summary>
    public async Task WaitForOutputAsync(string text, int seconds)
    {
        var clock = Stopwatch.StartNew();
        while (!Output.Contains(text, StringComparison.Ordinal))
        {
            if (_process.HasExited) Assert.Fail($"gmm exited ({_process.ExitCode}) before printing '{text}': {Output}");
            if (clock.Elapsed > TimeSpan.FromSeconds(seconds)) Assert.Fail($"gmm did not print '{text}' within {seconds} s: {Output}");
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
    }

    /// <summary>Sends a signal (SIGINT as Ctrl+C does, SIGKILL as an OOM killer does).</summary>
    public void Signal(int signal) => Assert.Equal(0, GuestMemory.Qemu.QemuNative.Kill(_process.Id, signal));

    /// <summary>Waits for it to exit and returns its exit code; kills it when it does not within <paramref name="timeout"/>.</summary>
    public int WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
        {
            _process.Kill(entireProcessTree: true);
            Assert.Fail($"gmm did not exit within {timeout.TotalSeconds} s: {Output}");
        }
        _drained.Wait(TimeSpan.FromSeconds(10));
        return _process.ExitCode;
    }

    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.Dispose();
    }

    private async Task Drain(StreamReader reader)
    {
        while (await reader.ReadLineAsync() is string line)
            lock (_output) _output.AppendLine(line);
    }
}
