using System.CommandLine;
using System.CommandLine.Parsing;
using GuestMemory.Cli.Output;

namespace GuestMemory.Cli;

/// <summary>
/// Runs the command tree so that every failure a user can cause ends in one short line on standard
/// error (or one JSON error document with <c>--json</c>) and a non-zero exit: 1 when the command line
/// does not parse, 2 for typed errors (the library's <see cref="GmmError"/>, the tool's
/// <see cref="CliError"/>), 130/143 when Ctrl+C or SIGTERM stopped the work. Only a bug in gmm itself
/// shows a stack trace (exit 70).
/// </summary>
internal static class CommandRunner
{
    /// <summary>Exit code of a typed error.</summary>
    public const int TypedError = 2;

    /// <summary>Exit code of a bug (EX_SOFTWARE).</summary>
    public const int Bug = 70;

    public static int Run(RootCommand root, string[] args)
    {
        ParseResult parsed = root.Parse(args.Length == 0 ? ["--help"] : args); // no command at all: show what there is
        string path = CommandPath(parsed);
        CliSession.Command = path.Length > 4 ? path[4..] : "";
        CliSession.Json = JsonRequested(parsed, args);
        if (parsed.Errors.Count > 0)
        {
            // One short line instead of the whole help text: what was wrong and where to look.
            string errors = string.Join("; ", parsed.Errors.Select(e => e.Message.TrimEnd('.')));
            ErrorReport.Write(new CliFailure(nameof(CliError.InvalidArguments), $"{errors} (see '{path} --help')"));
            return 1;
        }
        Interruption interruption = CliSession.Interruption;
        interruption.Install();
        try
        {
            int exit = parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null });
            return interruption.IsRequested ? Interrupted(interruption) : exit;
        }
        catch (Exception e)
        {
            // One handler that sorts the exception, no filters: a filter runs while the thrower still holds its locks.
            if (interruption.IsRequested) return Interrupted(interruption); // whatever the stopped work threw on its way out is the interruption's doing
            if (CliFailure.From(e) is { } failure)
            {
                ErrorReport.Write(failure);
                return TypedError;
            }
            ErrorReport.Write(new CliFailure(nameof(CliError.Unexpected), $"{e.GetType().Name}: {e.Message} (a bug in gmm; its stack trace follows)"));
            Console.Error.WriteLine(e);
            return Bug;
        }
        finally
        {
            interruption.Dispose();
        }
    }

    private static int Interrupted(Interruption interruption)
    {
        ErrorReport.Write(CliSession.InterruptedFailure(interruption.Signal));
        return interruption.ExitCode;
    }

    /// <summary>"gmm bench alloc" for the command that was parsed (as far as it parsed).</summary>
    private static string CommandPath(ParseResult parsed)
    {
        var names = new List<string>();
        for (SymbolResult? r = parsed.CommandResult; r != null; r = r.Parent)
            if (r is CommandResult c) names.Insert(0, c.Command is RootCommand ? "gmm" : c.Command.Name);
        return string.Join(' ', names);
    }

    /// <summary>Whether the command asked for JSON: its <c>--json</c> option, or (when the line did not parse) the token.</summary>
    private static bool JsonRequested(ParseResult parsed, string[] args)
    {
        if (parsed.Errors.Count > 0) return args.Contains("--json");
        Option? json = parsed.CommandResult.Command.Options.FirstOrDefault(o => o.Name == "--json");
        return json is Option<bool> flag && parsed.GetValue(flag);
    }
}
