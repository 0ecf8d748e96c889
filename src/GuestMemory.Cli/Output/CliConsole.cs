using System.Text;
using Spectre.Console;

namespace GuestMemory.Cli.Output;

/// <summary>
/// The two streams every command writes to, and nothing else does: <see cref="Out"/> carries results
/// only (tables, the demo's live view or its lines, JSON documents), so <c>gmm ... &gt; file</c> holds
/// exactly the results; <see cref="Err"/> carries errors, warnings and progress. Each is a Spectre
/// console made for what its stream really is: on a terminal, colours (unless <c>NO_COLOR</c> is set),
/// links and live displays; redirected, no escape code of any kind and no wrapping, so a file or a pipe
/// gets plain lines of any length (a file name stays whole inside a table cell).
/// </summary>
internal static class CliConsole
{
    /// <summary>
    /// The width a redirected stream is rendered at: wide enough that no table of gmm's wraps, small
    /// enough that a widget which pads to the width (none of gmm's does) stays bounded.
    /// </summary>
    public const int RedirectedWidth = 4096;

    /// <summary>Results: standard output.</summary>
    public static IAnsiConsole Out { get; } = Create(Console.Out, Console.IsOutputRedirected);

    /// <summary>Errors, warnings and progress: standard error.</summary>
    public static IAnsiConsole Err { get; } = Create(Console.Error, Console.IsErrorRedirected);

    /// <summary>True when standard output is a terminal (a live view may redraw it).</summary>
    public static bool OutIsTerminal => !Console.IsOutputRedirected;

    /// <summary>True when standard error is a terminal (progress bars and spinners may show there).</summary>
    public static bool ErrIsTerminal => !Console.IsErrorRedirected;

    /// <summary>
    /// A console on <paramref name="writer"/>: a terminal keeps Spectre's detection (which honours
    /// <c>NO_COLOR</c>); a redirected stream gets no ANSI, no colour, no links, no interaction and the
    /// <see cref="RedirectedWidth"/>.
    /// </summary>
    internal static IAnsiConsole Create(TextWriter writer, bool redirected)
    {
        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = redirected ? AnsiSupport.No : AnsiSupport.Detect,
            ColorSystem = redirected ? ColorSystemSupport.NoColors : ColorSystemSupport.Detect,
            Interactive = redirected ? InteractionSupport.No : InteractionSupport.Detect,
        });
        if (redirected)
        {
            console.Profile.Width = RedirectedWidth;
            console.Profile.Capabilities.Links = false;
            console.Profile.Capabilities.Interactive = false;
            console.Profile.Encoding = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false);
        }
        return console;
    }
}
