using System.Globalization;
using System.Text;
using Spectre.Console;

namespace GuestMemory.Cli.Output;

/// <summary>
/// Text gmm did not write itself (file names, VM names, error messages, names that came over the
/// network) made safe to print: never read as Spectre markup, and every control character shown as a
/// visible escape (<c>\x1b</c>, <c>\n</c>...) so a name cannot move the cursor, change colours or forge
/// a line of output. Printable text, non-ASCII letters included, is kept as it is.
/// </summary>
internal static class UserText
{
    /// <summary><paramref name="text"/> with every control character replaced by a visible escape.</summary>
    public static string Visible(string? text)
    {
        if (string.IsNullOrEmpty(text)) return "";
        if (!NeedsEscape(text)) return text;
        var visible = new StringBuilder(text.Length + 16);
        foreach (char c in text)
        {
            switch (c)
            {
                case '\n': visible.Append("\\n"); break;
                case '\r': visible.Append("\\r"); break;
                case '\t': visible.Append("\\t"); break;
                default:
                    if (IsControl(c)) visible.Append(c <= 0xFF ? $"\\x{(int)c:x2}" : $"\\u{(int)c:x4}");
                    else visible.Append(c);
                    break;
            }
        }
        return visible.ToString();
    }

    /// <summary><paramref name="text"/> made visible (<see cref="Visible"/>) and escaped for Spectre markup.</summary>
    public static string Markup(string? text) => Spectre.Console.Markup.Escape(Visible(text));

    /// <summary>A table cell or line of user text: rendered as plain text, never parsed as markup.</summary>
    public static Text Cell(string? text) => new(Visible(text));

    /// <summary>
    /// Control characters: C0, DEL, C1, and the Unicode format characters that reorder or hide text
    /// (bidirectional overrides, zero-width joiners), which can make a printed name lie about itself.
    /// </summary>
    private static bool IsControl(char c) =>
        char.IsControl(c) || char.GetUnicodeCategory(c) == UnicodeCategory.Format;

    private static bool NeedsEscape(string text)
    {
        foreach (char c in text)
            if (IsControl(c)) return true;
        return false;
    }
}
