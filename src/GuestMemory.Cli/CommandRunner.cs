using System.CommandLine;
using Spectre.Console;

namespace GuestMemory.Cli;

/// <summary>
/// Runs the command tree so that every failure a user can cause ends in one short red line and a
/// non-zero exit: parse errors (exit 1, from System.CommandLine), typed GuestMemory errors and bad
/// files (exit 2). Only a real bug would show a stack trace.
/// </summary>
internal static class CommandRunner
{
    public static int Run(RootCommand root, string[] args)
    {
        ParseResult parsed = root.Parse(args);
        try
        {
            return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (e is GmmException or IOException or UnauthorizedAccessException or InvalidDataException or ArgumentException or FormatException)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]gmm: {e.Message}[/]");
            return 2;
        }
        catch (OperationCanceledException)
        {
            AnsiConsole.MarkupLine("[yellow]gmm: cancelled[/]");
            return 130;
        }
    }
}
