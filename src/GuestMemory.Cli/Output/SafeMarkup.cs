using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Spectre.Console;

namespace GuestMemory.Cli.Output;

/// <summary>
/// An interpolated string whose literal parts are gmm's own Spectre markup and whose holes are data:
/// every hole is formatted with the invariant culture, made visible (<see cref="UserText.Visible"/>) and
/// markup-escaped, so <c>$"[red]gmm: {message}[/]"</c> prints any message as it is, brackets and escape
/// sequences included. The one way commands print a line that mixes markup and values.
/// </summary>
[InterpolatedStringHandler]
internal ref struct SafeMarkup
{
    private readonly StringBuilder _text;

    public SafeMarkup(int literalLength, int formattedCount) => _text = new StringBuilder(literalLength + 16 * formattedCount);

    public readonly void AppendLiteral(string literal) => _text.Append(literal);

    public readonly void AppendFormatted<T>(T value) => AppendFormatted(value, null);

    public readonly void AppendFormatted<T>(T value, string? format) =>
        _text.Append(UserText.Markup(value is IFormattable f ? f.ToString(format, CultureInfo.InvariantCulture) : value?.ToString()));

    public readonly void AppendFormatted<T>(T value, int alignment, string? format = null)
    {
        string text = value is IFormattable f ? f.ToString(format, CultureInfo.InvariantCulture) : value?.ToString() ?? "";
        _text.Append(UserText.Markup(alignment >= 0 ? text.PadLeft(alignment) : text.PadRight(-alignment)));
    }

    /// <summary>The markup, ready for Spectre.</summary>
    public readonly override string ToString() => _text.ToString();
}

/// <summary>Printing and building <see cref="SafeMarkup"/>.</summary>
internal static class SafeText
{
    /// <summary>Writes one line of markup whose holes are escaped data.</summary>
    public static void Line(this IAnsiConsole console, ref SafeMarkup markup) => console.MarkupLine(markup.ToString());

    /// <summary>The markup of an interpolated string whose holes are escaped data (for titles and cells).</summary>
    public static string Of(ref SafeMarkup markup) => markup.ToString();
}
