using System.CommandLine;

namespace GuestMemory.Cli.Commands;

/// <summary><c>gmm bench &lt;name&gt;</c>: whole-system figures, one subcommand per benchmark (see docs/benchmarks.md).</summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var bench = new Command("bench", "Measure GuestMemory on this machine and print figures (a table, or JSON with --json)");
        bench.Subcommands.Add(BenchAccessCommand.Create());
        bench.Subcommands.Add(BenchBalloonCommand.Create());
        bench.Subcommands.Add(BenchCompactionCommand.Create());
        bench.Subcommands.Add(BenchFusionCommand.Create());
        bench.Subcommands.Add(BenchAllocCommand.Create());
        bench.Subcommands.Add(BenchMicroCommand.Create());
        bench.Subcommands.Add(BenchAllCommand.Create());
        bench.Subcommands.Add(BenchMigrateCommand.Create());
        bench.Subcommands.Add(BenchStateCommand.Create());
        bench.Subcommands.Add(BenchQemuCommand.Create());
        bench.Subcommands.Add(BenchQemuBalloonCommand.Create());
        bench.Subcommands.Add(BenchQemuStoreCommand.Create());
        return bench;
    }

    /// <summary>The <c>--json</c> option every benchmark takes.</summary>
    public static Option<bool> JsonOption() => new("--json") { Description = "Print one JSON object instead of a table" };
}
