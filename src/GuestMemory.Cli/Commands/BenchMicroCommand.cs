using System.CommandLine;
using System.Diagnostics;
using GuestMemory.Cli.Output;

namespace GuestMemory.Cli.Commands;

/// <summary>
/// <c>gmm bench micro</c>: the BenchmarkDotNet micro benchmarks (allocate/free hot path, chunk lookup).
/// They live in a project of their own, <c>bench/GuestMemory.Benchmarks.Micro</c>, so that the installed
/// tool does not carry BenchmarkDotNet, Roslyn, TraceEvent and native disassemblers; this command runs
/// that project with <c>dotnet run -c Release</c> when gmm runs inside a source checkout, and says what to
/// do when it does not (an installed tool).
/// </summary>
internal static class BenchMicroCommand
{
    private const string Project = "bench/GuestMemory.Benchmarks.Micro/GuestMemory.Benchmarks.Micro.csproj";

    public static Command Create()
    {
        var filter = new Option<string>("--filter") { Description = "Which benchmarks to run, a glob over their full names", DefaultValueFactory = _ => "*" };
        var micro = new Command("micro", $"Run the BenchmarkDotNet micro benchmarks ({Project}, from a source checkout, in Release)") { filter };
        micro.SetCancellableRun((p, cancel) => Run(p.GetValue(filter)!, cancel));
        return micro;
    }

    private static int Run(string filter, CancellationToken cancel)
    {
        string project = FindProject() ?? throw new CliException(CliError.SourceCheckoutNeeded,
            $"the micro benchmarks are not part of the installed gmm tool: in a clone of the GuestMemory repository run `dotnet run -c Release --project {Project} -- --filter '{filter}'` (or `gmm bench micro` from inside it)");
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false };
        foreach (string a in (string[])["run", "-c", "Release", "--project", project, "--", "--filter", filter]) start.ArgumentList.Add(a);
        using Process run = Process.Start(start) ?? throw new CliException(CliError.IoError, "could not start `dotnet run`");
        using CancellationTokenRegistration stop = cancel.Register(() => run.Kill(entireProcessTree: true));
        run.WaitForExit();
        cancel.ThrowIfCancellationRequested();
        return run.ExitCode == 0 ? 0 : throw new CliException(CliError.BenchmarkFailed, $"the micro benchmarks failed (exit {run.ExitCode})");
    }

    /// <summary>The project in the nearest checkout above the current directory or above gmm itself, or null.</summary>
    private static string? FindProject()
    {
        foreach (string start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
            for (DirectoryInfo? dir = new(start); dir != null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, Project);
                if (File.Exists(candidate)) return candidate;
            }
        return null;
    }
}
