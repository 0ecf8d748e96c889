using System.Globalization;
using System.Text;

namespace GuestMemory.Qemu;

/// <summary>
/// The wire format of the guest command channel (docs/qemu.md, "Command channel"), as pure functions
/// so they can be tested and fuzzed apart from any guest.
/// <list type="bullet">
/// <item>host → guest: <c>ID COMMAND ARG...\n</c> (ID a positive decimal number; the words are checked by <see cref="CheckWord"/>).</item>
/// <item>guest → host, once at start: <c>#ready UPTIME</c>.</item>
/// <item>guest → host, after each command: <c>=ID STATUS LINES</c>, then exactly LINES lines that each start with <c>|</c>.</item>
/// </list>
/// </summary>
public static class GuestShellProtocol
{
    /// <summary>The longest line either side may send.</summary>
    public const int MaxLineBytes = 1 << 20;

    /// <summary>The most output lines one reply may announce.</summary>
    public const int MaxReplyLines = 1 << 20;

    /// <summary>A reply header: the command's id, its exit status and how many output lines follow.</summary>
    public readonly record struct Header(long Id, int Status, int Lines);

    /// <summary>The header in <paramref name="line"/>, or null when the line is not a well-formed header.</summary>
    public static Header? ParseHeader(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        if (line.Length < 6 || line[0] != '=') return null;
        string[] parts = line[1..].Split(' ');
        if (parts.Length != 3 || parts.Any(p => p.Length is 0 or > 18 || !p.All(char.IsAsciiDigit))) return null; // .NET's parser would also take trailing NULs

        if (!long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out long id) || id <= 0) return null;
        if (!int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int status) || status > 255) return null;
        if (!int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out int lines) || lines > MaxReplyLines) return null;
        return new Header(id, status, lines);
    }

    /// <summary>The guest's uptime in a <c>#ready UPTIME</c> line, or null when the line is not one.</summary>
    public static double? ParseReady(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        const string prefix = "#ready ";
        if (!line.StartsWith(prefix, StringComparison.Ordinal)) return null;
        string number = line[prefix.Length..];
        if (number.Length is 0 or > 32 || !number.All(c => char.IsAsciiDigit(c) || c == '.')) return null;
        return double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double uptime) && uptime >= 0 ? uptime : null;
    }

    /// <summary>The text of an output line (<c>|TEXT</c>), or null when the line is not one.</summary>
    public static string? ParseOutput(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        return line.Length >= 1 && line[0] == '|' ? line[1..] : null;
    }

    /// <summary>The request line for a command (without its newline), after checking every word.</summary>
    /// <exception cref="QemuException"><see cref="QemuError.InvalidArgument"/> for a word the channel cannot carry.</exception>
    public static string FormatRequest(long id, string command, IReadOnlyList<string> arguments)
    {
        if (id <= 0) throw new QemuException(QemuError.InvalidArgument, $"a command id must be positive, not {id}");
        CheckWord(command, "command");
        var line = new StringBuilder().Append(id.ToString(CultureInfo.InvariantCulture)).Append(' ').Append(command);
        foreach (string a in arguments)
        {
            CheckWord(a, "argument");
            line.Append(' ').Append(a);
        }
        return line.ToString();
    }

    /// <summary>
    /// A word must be 1 to 256 characters of letters, digits and <c>_ . : / + = , @ % -</c>: nothing the
    /// guest's shell would split, expand or quote, so what the host sends is what the command gets.
    /// </summary>
    /// <exception cref="QemuException"><see cref="QemuError.InvalidArgument"/>.</exception>
    public static void CheckWord(string word, string what)
    {
        ArgumentNullException.ThrowIfNull(word);
        if (word.Length is 0 or > 256 || !word.All(c => char.IsAsciiLetterOrDigit(c) || "_.:/+=,@%-".Contains(c)))
            throw new QemuException(QemuError.InvalidArgument, $"the {what} '{Printable(word)}' is not 1-256 characters of letters, digits and _.:/+=,@%-");
    }

    /// <summary>A shell script for the <c>sh</c> command: one line, no NUL, at most 64 KiB.</summary>
    /// <exception cref="QemuException"><see cref="QemuError.InvalidArgument"/>.</exception>
    public static void CheckScript(string script)
    {
        ArgumentNullException.ThrowIfNull(script);
        if (script.Length is 0 or > 65536 || script.Any(c => c is '\n' or '\r' or '\0') || script.Trim().Length == 0)
            throw new QemuException(QemuError.InvalidArgument, "a guest script must be one non-empty line (no newline or NUL) of at most 64 KiB");
    }

    private static string Printable(string s) => new(s.Take(60).Select(c => char.IsControl(c) ? '?' : c).ToArray());
}
