using System.Text.Json.Nodes;

namespace GuestMemory.Cli.Output;

/// <summary>
/// How errors and warnings reach the user: one line on standard error (<c>gmm: CODE: message</c>, in red
/// on a terminal, control characters escaped), or with <c>--json</c> one JSON error document there. Standard
/// output never carries an error, so it holds valid results (or nothing) whatever happens.
/// </summary>
internal static class ErrorReport
{
    /// <summary>Reports a failure (with <paramref name="context"/>, e.g. a session number, in the JSON form and before the message).</summary>
    public static void Write(CliFailure failure, JsonObject? context = null, string? prefix = null)
    {
        if (CliSession.Json)
        {
            CliJson.WriteErr(CliJson.Error(CliSession.Command, failure, context));
            return;
        }
        string lead = prefix == null ? "" : prefix + ": ";
        CliConsole.Err.Line($"[red]gmm: {lead}{failure.Code}: {failure.OneLine}[/]");
    }

    /// <summary>A warning: the result stands, but the user should know (a dump padded to whole pages).</summary>
    public static void Warning(string message)
    {
        if (CliSession.Json) CliJson.WriteErr(new JsonObject { ["command"] = CliSession.Command, ["warning"] = message });
        else CliConsole.Err.Line($"[yellow]gmm: warning: {message}[/]");
    }
}
