using System.Diagnostics;

namespace GuestMemory.Tests.Support;

/// <summary>
/// The real <c>gmm</c> command as a separate process (it is built into this test's output folder, see
/// the project file): what a user runs, exit code and output included.
/// </summary>
internal static class GmmProcess
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    /// <summary>Starts <c>dotnet gmm.dll</c> from this test's output folder, colours off.</summary>
    public static Process Start(params string[] arguments) => Start(null, arguments);

    /// <summary>Starts gmm with extra environment variables (null values remove one).</summary>
    public static Process Start(IReadOnlyDictionary<string, string?>? environment, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "gmm.dll"));
        foreach (string a in arguments) start.ArgumentList.Add(a);
        start.Environment["NO_COLOR"] = "1";
        foreach ((string name, string? value) in environment ?? new Dictionary<string, string?>())
        {
            if (value == null) start.Environment.Remove(name);
            else start.Environment[name] = value;
        }
        return Process.Start(start)!;
    }

    /// <summary>Waits for the process and returns everything it printed; its exit code must be <paramref name="expectedExit"/>.</summary>
    public static string Finish(Process process, int expectedExit = 0)
    {
        GmmOutcome outcome = Outcome(process);
        Assert.True(outcome.ExitCode == expectedExit, $"exit {outcome.ExitCode}, expected {expectedExit}: {outcome.All}");
        return outcome.All;
    }

    /// <summary>Waits for the process (killing it after <see cref="Timeout"/>) and returns its exit code and both streams apart.</summary>
    public static GmmOutcome Outcome(Process process)
    {
        Task<string> output = process.StandardOutput.ReadToEndAsync(), errors = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(Timeout)) process.Kill(entireProcessTree: true);
        process.WaitForExit();
        return new GmmOutcome(process.ExitCode, output.GetAwaiter().GetResult(), errors.GetAwaiter().GetResult());
    }

    /// <summary>Runs gmm to its end and returns its output; the exit code must be <paramref name="expectedExit"/>.</summary>
    public static string Run(int expectedExit, params string[] arguments)
    {
        using Process process = Start(arguments);
        return Finish(process, expectedExit);
    }

    /// <summary>Waits until a <c>gmm migrate listen --ready-file</c> wrote its port there, and returns it.</summary>
    public static int WaitForPort(Process listener, string readyFile)
    {
        var clock = Stopwatch.StartNew();
        while (!File.Exists(readyFile) || !int.TryParse(File.ReadAllText(readyFile), out _))
        {
            if (listener.HasExited) Assert.Fail($"the listener exited: {listener.StandardError.ReadToEnd()}");
            Assert.True(clock.Elapsed < Timeout, "the listener did not say where it listens");
            Thread.Sleep(20);
        }
        return int.Parse(File.ReadAllText(readyFile), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Runs gmm to its end and returns its exit code and both streams apart.</summary>
    public static GmmOutcome RunOutcome(params string[] arguments)
    {
        using Process process = Start(arguments);
        return Outcome(process);
    }
}

/// <summary>How a gmm process ended: its exit code, standard output and standard error.</summary>
internal sealed record GmmOutcome(int ExitCode, string Stdout, string Stderr)
{
    /// <summary>Both streams, output first.</summary>
    public string All => Stdout + Stderr;

    /// <summary>Standard error's non-empty lines.</summary>
    public string[] ErrLines => Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
