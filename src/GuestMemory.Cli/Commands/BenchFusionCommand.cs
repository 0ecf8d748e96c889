using System.CommandLine;
using GuestMemory.Benchmarks;
using GuestMemory.Cli.Output;

namespace GuestMemory.Cli.Commands;

/// <summary>
/// <c>gmm bench fusion [--dumps FILE...] [--peer ksm] [--json]</c>: page fusion on real guest RAM dumps
/// (see <see cref="FusionBench"/>), optionally side by side with Linux KSM on the same dumps
/// (<see cref="KsmPeer"/>). Definitions of every figure: docs/fusion.md. Ctrl+C stops both cleanly, and
/// KSM's settings are put back before the process ends.
/// </summary>
internal static class BenchFusionCommand
{
    public static Command Create()
    {
        var dumps = new Option<string[]>("--dumps") { Description = "Raw guest RAM dumps, plain or gzip (default: the files in the nearest shared/data folder)", AllowMultipleArgumentsPerToken = true };
        var peer = new Option<string>("--peer") { Description = "Also run a peer on the same dumps: ksm (needs root; KSM's settings are restored afterwards, also on Ctrl+C)" };
        peer.AcceptOnlyFromAmong("ksm");
        Option<bool> json = BenchCommand.JsonOption();
        var command = new Command("fusion", "Load real guest RAM dumps into VMs, run page fusion until it converges, and report savings, speed and RSS") { dumps, peer, json };
        command.SetCancellableRun((p, cancel) => Run(DumpLocator.Resolve(p.GetValue(dumps)), p.GetValue(peer) == "ksm", p.GetValue(json), cancel));
        return command;
    }

    private static int Run(string[] dumps, bool ksm, bool json, CancellationToken cancel)
    {
        if (ksm && !KsmPeer.IsAvailable)
            throw new GmmException(GmmError.NotSupported, $"--peer ksm needs write access to {KsmSettings.Root} (Linux with KSM, as root)");
        FusionBenchResult ours = CliProgress.Steps(report => FusionBench.Run(dumps, Progress(report), cancel));
        KsmPeerResult? theirs = ksm ? CliProgress.Steps(report => KsmPeer.Run(dumps, Progress(report), cancel)) : null;
        cancel.ThrowIfCancellationRequested();
        if (json) BenchJson.Write("fusion", BenchFusionReport.Json(ours, theirs));
        else BenchFusionReport.Print(dumps, ours, theirs);
        return 0;
    }

    private static InlineProgress<BenchProgress> Progress(Action<string, long, long> report) => new(p => report(p.Step, p.Done, p.Total));
}
