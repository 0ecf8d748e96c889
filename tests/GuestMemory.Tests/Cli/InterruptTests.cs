using System.Diagnostics;
using GuestMemory.Tests.Support;
using static GuestMemory.Tests.Support.GmmProcess;

namespace GuestMemory.Tests.Cli;

/// <summary>
/// Ctrl+C as a user presses it: SIGINT sent to a real gmm process. The first stops the work cleanly and
/// the process exits 130 saying so on standard error; the demo then neither saves, moves nor writes its
/// report; a second SIGINT never crashes (System.CommandLine's own handler once did, on completing its
/// result twice). SIGTERM is handled the same way with exit 143.
/// </summary>
public sealed class InterruptTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("gmm-interrupt-").FullName;

    public InterruptTests() => Signals.LetChildrenBeInterrupted();

    [Fact]
    public void Ctrl_c_stops_the_demo_before_it_saves_moves_or_reports()
    {
        string report = Path.Combine(_directory, "report.html");
        using Process demo = StartDemo(report);
        WaitForLine(demo, " s  RSS "); // a per-second line: the guests run

        Signals.Interrupt(demo);
        GmmOutcome run = Outcome(demo);

        Assert.True(run.ExitCode == 130, run.All);
        Assert.Contains("Interrupted", run.Stderr);
        Assert.DoesNotContain("Summary", run.Stdout);
        Assert.False(File.Exists(report));
        Assert.Empty(Directory.GetFiles(_directory)); // no saved state left behind either
        AssertNoCrash(run);
    }

    [Fact]
    public void A_second_ctrl_c_ends_the_demo_at_once_without_a_crash()
    {
        using Process demo = StartDemo(Path.Combine(_directory, "report.html"));
        WaitForLine(demo, " s  RSS ");

        Signals.Interrupt(demo);
        Signals.Interrupt(demo);
        GmmOutcome run = Outcome(demo);

        Assert.True(run.ExitCode == 130, run.All);
        AssertNoCrash(run);
    }

    [Fact]
    public void Ctrl_c_stops_a_listener_and_a_second_one_does_not_crash_it()
    {
        string readyFile = Path.Combine(_directory, "port");
        using Process once = Start("migrate", "listen", "--port", "0", "--ready-file", readyFile);
        WaitForPort(once, readyFile);
        Signals.Interrupt(once);
        GmmOutcome first = Outcome(once);
        File.Delete(readyFile);
        using Process twice = Start("migrate", "listen", "--port", "0", "--ready-file", readyFile, "--json");
        WaitForPort(twice, readyFile);
        Signals.Interrupt(twice);
        Signals.Interrupt(twice);
        GmmOutcome second = Outcome(twice);

        Assert.True(first.ExitCode == 130, first.All);
        Assert.Contains("Interrupted: interrupted by Ctrl+C", first.Stderr);
        Assert.True(second.ExitCode == 130, second.All);
        Assert.Contains("\"code\":\"Interrupted\"", second.Stderr);
        AssertNoCrash(first);
        AssertNoCrash(second);
    }

    [Fact]
    public void Sigterm_stops_a_listener_with_exit_143()
    {
        string readyFile = Path.Combine(_directory, "port");
        using Process listener = Start("migrate", "listen", "--port", "0", "--ready-file", readyFile);
        WaitForPort(listener, readyFile);

        Signals.Terminate(listener);
        GmmOutcome run = Outcome(listener);

        Assert.True(run.ExitCode == 143, run.All);
        Assert.Contains("SIGTERM", run.Stderr);
        AssertNoCrash(run);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static Process StartDemo(string report) =>
        Start("demo", "--vms", "2", "--ram-mib", "32", "--image-mib", "4", "--duration", "300", "--no-live", "--report", report);

    /// <summary>
    /// Reads standard output until a line containing <paramref name="text"/> (the rest stays unread for
    /// <see cref="GmmProcess.Outcome"/>); kills gmm and fails if none comes within <see cref="GmmProcess.Timeout"/>.
    /// </summary>
    private static void WaitForLine(Process process, string text)
    {
        using var deadline = new CancellationTokenSource(GmmProcess.Timeout);
        try
        {
            while (process.StandardOutput.ReadLineAsync(deadline.Token).AsTask().GetAwaiter().GetResult() is string line)
                if (line.Contains(text, StringComparison.Ordinal)) return;
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"gmm printed no line with '{text}' within {GmmProcess.Timeout}");
        }
        Assert.Fail($"gmm ended before printing '{text}': {process.StandardError.ReadToEnd()}");
    }

    private static void AssertNoCrash(GmmOutcome run)
    {
        Assert.DoesNotContain("   at ", run.All);
        Assert.DoesNotContain("Unhandled", run.All);
        Assert.DoesNotContain("InvalidOperationException", run.All);
    }
}
