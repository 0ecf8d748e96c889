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
    public static Process Start(params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "gmm.dll"));
        foreach (string a in arguments) start.ArgumentList.Add(a);
        start.Environment["NO_COLOR"] = "1";
        return Process.Start(start)!;
    }

    /// <summary>Waits for the process and returns everything it printed; its exit code must be <paramref name="expectedExit"/>.</summary>
    public static string Finish(Process process, int expectedExit = 0)
    {
        Task<string> output = process.StandardOutput.ReadToEndAsync(), errors = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(Timeout)) process.Kill(entireProcessTree: true);
        string text = output.GetAwaiter().GetResult() + errors.GetAwaiter().GetResult();
        Assert.True(process.ExitCode == expectedExit, $"exit {process.ExitCode}, expected {expectedExit}: {text}");
        return text;
    }

    /// <summary>Runs gmm to its end and returns its output; the exit code must be <paramref name="expectedExit"/>.</summary>
    public static string Run(int expectedExit, params string[] arguments)
    {
        using Process process = Start(arguments);
        return Finish(process, expectedExit);
    }
}
