using System.Text.Json.Nodes;
using GuestMemory.Cli.Output;

namespace GuestMemory.Cli.Commands;

/// <summary>
/// The JSON document of a benchmark: its figures as <c>result</c>, rows where it has them, and its
/// targets from <see cref="BenchTargets"/> with the figure each was checked against and <c>met</c> — the
/// same targets <c>gmm bench all</c> reports.
/// </summary>
internal static class BenchJson
{
    /// <summary>The document for <c>gmm bench <paramref name="bench"/></c>.</summary>
    public static JsonObject Document(string bench, JsonObject result, JsonArray? items = null) =>
        CliJson.Result($"bench {bench}", result, items, BenchTargets.Evaluate(bench, result));

    /// <summary>Writes the document to standard output.</summary>
    public static void Write(string bench, JsonObject result, JsonArray? items = null) => CliJson.WriteOut(Document(bench, result, items));
}
