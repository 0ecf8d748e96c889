using System.CommandLine;
using GuestMemory.Benchmarks;
using GuestMemory.Cli.Output;
using Spectre.Console;

namespace GuestMemory.Cli.Commands;

/// <summary><c>gmm bench balloon</c>: how fast the balloon controller reclaims memory under a pressure step, and how long balloons take to settle.</summary>
internal static class BenchBalloonCommand
{
    public static Command Create()
    {
        Option<bool> json = BenchCommand.JsonOption();
        var vms = new Option<int>("--vms") { Description = "VMs, each with a simulated guest on its own thread", DefaultValueFactory = _ => 4 };
        var ram = new Option<int>("--ram-mib") { Description = "Guest RAM per VM, MiB (the host budget is half of all of it)", DefaultValueFactory = _ => 128 };
        var steps = new Option<int>("--steps") { Description = "Pressure steps to measure", DefaultValueFactory = _ => 20 };
        vms.Within(2, 64);
        ram.Within(32, 4096);
        steps.Within(1, 10_000);
        var balloon = new Command("balloon", "Put the balloon controller under pressure steps on real memory: peak RSS over budget, reclaim rate, settle times") { json, vms, ram, steps };
        balloon.SetAction(p => Run(p.GetValue(json), new BalloonBenchOptions { Vms = p.GetValue(vms), RamMib = p.GetValue(ram), Steps = p.GetValue(steps) }));
        return balloon;
    }

    private static int Run(bool json, BalloonBenchOptions options)
    {
        BalloonFigures f = BalloonBench.Run(options);
        if (json)
        {
            BenchJson.Write("balloon", CliJson.Node(f).AsObject());
            return 0;
        }
        var table = new Table()
            .Title($"Ballooning: {f.Vms} VMs x {f.RamMib} MiB against a {f.BudgetMib:0} MiB budget, {f.Steps} pressure steps")
            .AddColumns("figure", "value", "target", "met");
        Row(table, "peak RSS over budget (%)", f.PeakRssOverBudgetPct, "<= 5", f.PeakRssOverBudgetPct <= 5);
        Row(table, "reclaim (MiB/s)", f.ReclaimMibPerS, ">= 200", f.ReclaimMibPerS >= 200);
        Row(table, "settle p50 (ms)", f.SettleMsP50, "<= 100 (Firecracker: 196)", f.SettleMsP50 <= 100);
        Row(table, "settle p99 (ms)", f.SettleMsP99, "<= 500 (Firecracker: 1,338)", f.SettleMsP99 <= 500);
        Row(table, "settle times measured", f.SettleSamples, "", null);
        Row(table, "memory reclaimed (MiB)", f.ReclaimedMib, "", null);
        Row(table, "peak RSS (MiB)", f.PeakRssMib, "", null);
        Row(table, "controller decisions", f.ControllerDecisions, "", null);
        Row(table, "guest writes refused (typed, handled)", f.RefusedWrites, "", null);
        Row(table, "steps that did not settle in 15 s", f.StepsTimedOut, "0", f.StepsTimedOut == 0);
        CliConsole.Out.Write(table);
        return 0;
    }

    private static void Row(Table table, string figure, double value, string target, bool? met) =>
        table.AddRow(figure, $"{value:0.##}", target, met switch { true => "[green]yes[/]", false => "[red]no[/]", null => "" });
}
