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
    private static string CommandPath(ParseResult parsed)
    {
        var names = new List<string>();
        for (System.CommandLine.Parsing.SymbolResult? r = parsed.CommandResult; r != null; r = r.Parent)
            if (r is System.CommandLine.Parsing.CommandResult c) names.Insert(0, c.Command is RootCommand ? "gmm" : c.Command.Name);
        return string.Join(' ', names);
    }

    public static int Run(RootCommand root, string[] args)
    {
        ParseResult parsed = root.Parse(args.Length == 0 ? ["--help"] : args); // no command at all: show what there is
        if (parsed.Errors.Count > 0)
        {
            // A short message instead of the whole help text: what was wrong and where to look.
            foreach (System.CommandLine.Parsing.ParseError error in parsed.Errors)
                AnsiConsole.MarkupLineInterpolated($"[red]gmm: {error.Message}[/]");
            AnsiConsole.MarkupLineInterpolated($"Run '{CommandPath(parsed)} --help' for usage.");
            return 1;
        }
        try
        {
            return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (e is GmmException or GuestMemory.Qemu.QemuException or IOException or UnauthorizedAccessException or InvalidDataException or ArgumentException or FormatException)
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
