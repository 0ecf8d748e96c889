using System.CommandLine;
using GuestMemory.Benchmarks;

namespace GuestMemory.Cli.Commands;

/// <summary><c>gmm bench micro</c>: the BenchmarkDotNet micro benchmarks (allocate/free hot path, chunk lookup), in process.</summary>
internal static class BenchMicroCommand
{
    public static Command Create()
    {
        var filter = new Option<string>("--filter") { Description = "Which benchmarks to run, a glob over their full names", DefaultValueFactory = _ => "*" };
        var micro = new Command("micro", "Run the BenchmarkDotNet micro benchmarks (build with -c Release)") { filter };
        micro.SetAction(p =>
        {
            MicroBenchmarks.Run(p.GetValue(filter)!);
            return 0;
        });
        return micro;
    }
}
