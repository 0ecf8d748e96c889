using System.Text.Json.Serialization;
using GuestMemory.Benchmarks;

namespace GuestMemory.Cli.Output;

/// <summary>
/// The source-generated JSON contracts of the result records gmm prints (no reflection at run time):
/// snake_case names, as every key of gmm's JSON is.
/// </summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(AllocFigures))]
[JsonSerializable(typeof(AccessFigures))]
[JsonSerializable(typeof(BalloonFigures))]
[JsonSerializable(typeof(CompactionFigures))]
[JsonSerializable(typeof(PlacementFigures))]
[JsonSerializable(typeof(StateFigures))]
[JsonSerializable(typeof(MigrationFigures))]
internal sealed partial class CliJsonContext : JsonSerializerContext;
