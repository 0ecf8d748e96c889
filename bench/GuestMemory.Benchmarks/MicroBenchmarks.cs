using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace GuestMemory.Benchmarks;

/// <summary>Runs this assembly's BenchmarkDotNet classes in the calling process (no separate project build).</summary>
public static class MicroBenchmarks
{
    /// <summary>Runs the benchmarks whose names match <paramref name="filter"/> (a BenchmarkDotNet glob such as <c>*Lookup*</c>).</summary>
    public static void Run(string filter)
    {
        IConfig config = DefaultConfig.Instance.AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance));
        BenchmarkSwitcher.FromAssembly(typeof(MicroBenchmarks).Assembly).Run(["--filter", filter], config);
    }
}
