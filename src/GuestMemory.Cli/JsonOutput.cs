using System.Text.Json;

namespace GuestMemory.Cli;

/// <summary>
/// The one JSON object a <c>--json</c> command prints: keys in the order given, numbers as numbers,
/// so scripts can compare runs without parsing tables.
/// </summary>
internal static class JsonOutput
{
    private static readonly JsonSerializerOptions Options = new() { WriteIndented = true };
    private static readonly JsonSerializerOptions Compact = new();

    /// <summary>Writes <paramref name="fields"/> as one JSON object to standard output.</summary>
    public static void Write(IEnumerable<KeyValuePair<string, object?>> fields)
    {
        var ordered = new Dictionary<string, object?>(fields);
        Console.Out.WriteLine(JsonSerializer.Serialize(ordered, Options));
    }

    /// <summary>Writes <paramref name="fields"/> as one JSON object on one line (a stream of results, one per line).</summary>
    public static void WriteLine(IEnumerable<KeyValuePair<string, object?>> fields)
    {
        var ordered = new Dictionary<string, object?>(fields);
        Console.Out.WriteLine(JsonSerializer.Serialize(ordered, Compact));
        Console.Out.Flush();
    }
}
