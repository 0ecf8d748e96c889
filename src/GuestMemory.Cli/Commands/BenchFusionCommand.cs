using System.CommandLine;
using GuestMemory.Benchmarks;
using Spectre.Console;

namespace GuestMemory.Cli.Commands;

/// <summary>
/// <c>gmm bench fusion [--dumps FILE...] [--peer ksm] [--json]</c>: page fusion on real guest RAM dumps
/// (see <see cref="FusionBench"/>), optionally side by side with Linux KSM on the same dumps
/// (<see cref="KsmPeer"/>). Definitions of every figure: docs/fusion.md.
/// </summary>
internal static class BenchFusionCommand
{
    public static Command Create()
    {
        var dumps = new Option<string[]>("--dumps") { Description = "Raw guest RAM dumps, plain or gzip (default: the files in the nearest shared/data folder)", AllowMultipleArgumentsPerToken = true };
        var peer = new Option<string>("--peer") { Description = "Also run a peer on the same dumps: ksm (needs root; KSM's settings are restored afterwards)" };
        peer.AcceptOnlyFromAmong("ksm");
        Option<bool> json = BenchCommand.JsonOption();
        var command = new Command("fusion", "Load real guest RAM dumps into VMs, run page fusion until it converges, and report savings, speed and RSS") { dumps, peer, json };
        command.SetAction((p, cancel) => Task.FromResult(Run(DumpLocator.Resolve(p.GetValue(dumps)), p.GetValue(peer) == "ksm", p.GetValue(json), cancel)));
        return command;
    }

    private static int Run(string[] dumps, bool ksm, bool json, CancellationToken cancel)
    {
        if (ksm && !KsmPeer.IsAvailable)
            throw new GmmException(GmmError.NotSupported, $"--peer ksm needs write access to {KsmSettings.Root} (Linux with KSM, as root)");
        FusionBenchResult ours = WithProgress(json, p => FusionBench.Run(dumps, p, cancel));
        KsmPeerResult? theirs = ksm ? WithProgress(json, p => KsmPeer.Run(dumps, p, cancel)) : null;
        if (json) JsonOutput.Write(BenchFusionReport.Json(ours, theirs));
        else BenchFusionReport.Print(dumps, ours, theirs);
        return 0;
    }

    /// <summary>Shows one progress bar per step (not with --json, whose output is for scripts).</summary>
    private static T WithProgress<T>(bool json, Func<IProgress<BenchProgress>?, T> run)
    {
        if (json) return run(null);
        return AnsiConsole.Progress().AutoClear(true).Start(ctx =>
        {
            var tasks = new Dictionary<string, ProgressTask>();
            return run(new InlineProgress<BenchProgress>(p =>
            {
                if (!tasks.TryGetValue(p.Step, out ProgressTask? task))
                {
                    foreach (ProgressTask done in tasks.Values) done.Value = done.MaxValue;
                    tasks[p.Step] = task = ctx.AddTask(p.Step, maxValue: Math.Max(1, p.Total));
                }
                if (p.Total > 0) task.MaxValue = p.Total;
                else task.IsIndeterminate = true;
                task.Value = Math.Min(p.Done, task.MaxValue);
            }));
        });
    }
}
