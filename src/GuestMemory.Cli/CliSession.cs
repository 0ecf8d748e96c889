using System.CommandLine;
using GuestMemory.Cli.Output;

namespace GuestMemory.Cli;

/// <summary>
/// What the one command this process runs needs to know about the invocation, wherever it prints: its
/// name (the <c>command</c> of every JSON document), whether <c>--json</c> was asked for (errors are then
/// JSON too), and the process's <see cref="Cli.Interruption"/>.
/// </summary>
internal static class CliSession
{
    /// <summary>The command path without "gmm", e.g. <c>bench alloc</c>.</summary>
    public static string Command { get; set; } = "";

    /// <summary>True when the command was asked for JSON.</summary>
    public static bool Json { get; set; }

    /// <summary>Ctrl+C and SIGTERM for this process.</summary>
    public static Interruption Interruption { get; } = new(ReportInterruption);

    /// <summary>
    /// Sets a command's action for work that stops cleanly on the token (an action set with plain
    /// <c>SetAction</c> is work that cannot stop midway: a signal ends the process at once, exit 130 or 143): the first signal cancels it,
    /// and the process then exits 130 (or 143) whatever the action returns.
    /// </summary>
    public static void SetCancellableRun(this Command command, Func<ParseResult, CancellationToken, int> run) =>
        command.SetAction(p =>
        {
            Interruption.Cancellable = true;
            return run(p, Interruption.Token);
        });

    /// <summary>The failure an interruption is reported as.</summary>
    public static CliFailure InterruptedFailure(string signal) => new(nameof(CliError.Interrupted), $"interrupted by {signal}");

    private static void ReportInterruption(int exitCode, string signal, bool now)
    {
        if (now) ErrorReport.Write(new CliFailure(nameof(CliError.Interrupted), $"interrupted by {signal}; ended at once (exit {exitCode})"));
        else if (!Json) CliConsole.Err.Line($"[yellow]gmm: {signal}: stopping cleanly (press Ctrl+C again to end at once)[/]");
    }
}
