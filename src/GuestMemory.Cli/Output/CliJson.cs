using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;

namespace GuestMemory.Cli.Output;

/// <summary>
/// The one way gmm writes JSON (docs/cli.md, "JSON output"): every <c>--json</c> result is a document
/// <c>{"command", "result", "items"?, "targets"?}</c> on standard output, every error a document
/// <c>{"command", "error": {"code", "message"}}</c> on standard error. Values come from the source-generated
/// <see cref="CliJsonContext"/> (no reflection), the documents are written by one <see cref="Utf8JsonWriter"/>.
/// </summary>
internal static class CliJson
{
    private static readonly JsonWriterOptions Indented = new() { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private static readonly JsonWriterOptions Compact = new() { Indented = false, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>A value as a JSON node, through the source-generated contract of its type.</summary>
    public static JsonNode Node<T>(T value) =>
        JsonSerializer.SerializeToNode(value, (JsonTypeInfo<T>)CliJsonContext.Default.GetTypeInfo(typeof(T))!)!;

    /// <summary>A result document: the command, its result, and its rows and targets where it has them.</summary>
    public static JsonObject Result(string command, JsonObject result, JsonArray? items = null, JsonArray? targets = null)
    {
        var document = new JsonObject { ["command"] = command, ["result"] = result };
        if (items != null) document["items"] = items;
        if (targets != null) document["targets"] = targets;
        return document;
    }

    /// <summary>An error document: the command and the failure's code and message (plus any <paramref name="context"/>, such as a session number).</summary>
    public static JsonObject Error(string command, CliFailure failure, JsonObject? context = null)
    {
        var error = new JsonObject { ["code"] = failure.Code, ["message"] = failure.OneLine };
        if (context != null)
            foreach ((string key, JsonNode? value) in context) error[key] = value?.DeepClone();
        return new JsonObject { ["command"] = command, ["error"] = error };
    }

    /// <summary>Writes a document to standard output, indented (one result) or on one line (a stream of results).</summary>
    public static void WriteOut(JsonObject document, bool oneLine = false) => Write(Console.Out, document, oneLine);

    /// <summary>Writes a document on one line to standard error.</summary>
    public static void WriteErr(JsonObject document) => Write(Console.Error, document, oneLine: true);

    /// <summary>The document as text.</summary>
    public static string Text(JsonObject document, bool oneLine = false)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, oneLine ? Compact : Indented)) document.WriteTo(writer);
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void Write(TextWriter stream, JsonObject document, bool oneLine)
    {
        string text = Text(document, oneLine);
        lock (stream)
        {
            stream.WriteLine(text);
            stream.Flush();
        }
    }
}
