using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

// The micro benchmarks (allocate/free hot path, chunk lookup), run in this process (no generated
// project per benchmark). Arguments are BenchmarkDotNet's own, e.g. --filter '*Lookup*'.
IConfig config = DefaultConfig.Instance.AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance));
BenchmarkSwitcher.FromAssembly(typeof(GuestMemory.Benchmarks.AllocFreeBenchmarks).Assembly).Run(args.Length == 0 ? ["--filter", "*"] : args, config);
