using System.CommandLine;
using GuestMemory.Cli.Demo;
using GuestMemory.Cli.Output;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace GuestMemory.Cli.Commands;

/// <summary><c>gmm demo</c>: the over-commit scenario on real host memory, a live view, a summary and an HTML report.</summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var vms = new Option<int>("--vms") { Description = "Number of VMs", DefaultValueFactory = _ => 4 };
        var ram = new Option<int>("--ram-mib") { Description = "Guest RAM per VM, MiB", DefaultValueFactory = _ => 128 };
        var image = new Option<int>("--image-mib") { Description = "OS image per VM (this machine's runtime files), MiB", DefaultValueFactory = _ => 24 };
        var seconds = new Option<double>("--duration") { Description = "How long the guests run, seconds", DefaultValueFactory = _ => 12 };
        var seed = new Option<int>("--seed") { Description = "Random seed of the guest workloads", DefaultValueFactory = _ => 1 };
        var report = new Option<string>("--report") { Description = "Where to write the HTML report", DefaultValueFactory = _ => "gmm-report.html" };
        var plain = new Option<bool>("--no-live") { Description = "Print a line per second instead of a live table" };
        var verbose = new Option<bool>("--verbose") { Description = "Log what the memory manager decides (VMs, balloon controller, compaction) to standard error" };
        vms.Within(1, 32);
        ram.Within(16, 8192);
        image.Within(1, 1024);
        seconds.Within(2, 3600, " seconds");
        var demo = new Command("demo", "Over-commit several VMs on real host memory: page fusion, zero pages, ballooning under a budget, a VM shutdown and compaction; writes an HTML report")
        {
            vms, ram, image, seconds, seed, report, plain, verbose,
        };
        demo.SetCancellableRun((p, cancel) =>
        {
            // The live view redraws standard output, so only a terminal there gets it (and not with --verbose, whose log lines would tear it).
            bool live = !p.GetValue(plain) && !p.GetValue(verbose) && CliConsole.OutIsTerminal && CliConsole.Out.Profile.Capabilities.Interactive;
            string reportPath = OutputPath.CheckFile(p.GetValue(report)!, "report");
            OutputPath.CheckDirectory(Path.GetDirectoryName(reportPath)!, "the saved state (beside the report)");
            var settings = new DemoSettings(p.GetValue(vms), p.GetValue(ram), p.GetValue(image), p.GetValue(seconds), p.GetValue(seed), reportPath, live);
            using ILoggerFactory logging = CliLogging.Create(p.GetValue(verbose));
            return Run(settings, logging, cancel);
        });
        return demo;
    }

    private static int Run(DemoSettings settings, ILoggerFactory logging, CancellationToken cancel)
    {
        OsImage image = OsImage.Load(settings.ImageBytes);
        CliConsole.Out.Line($"[bold]GuestMemory demo[/]: {settings.Vms} VMs promised {settings.PromisedBytes >> 20} MiB, each with the same OS image ({image.Files} runtime files, {image.Bytes.Length >> 20} MiB).");
        CliConsole.Out.Line($"Host budget: {settings.BudgetBytes >> 20} MiB of real RSS above what the process used before the VMs started; guest pages may take {settings.GuestPagesLimitBytes >> 20} MiB of it, and {DemoSettings.RuntimeSlackBytes >> 20} MiB is slack for the process's own growth while it runs (the manager's tables, guest threads, this view).");
        using var run = new DemoRun(settings, image, logging);
        if (settings.Live)
        {
            CliConsole.Out.Live(DemoView.Booting("starting")).AutoClear(false).Start(context =>
            {
                run.Boot(step => { context.UpdateTarget(DemoView.Booting(step)); context.Refresh(); });
                run.Run(sample => { context.UpdateTarget(DemoView.Build(run, sample)); context.Refresh(); }, cancel);
            });
        }
        else
        {
            run.Boot(step => CliConsole.Err.Line($"[grey]{step}[/]"));
            double nextLine = 0;
            run.Run(sample =>
            {
                if (sample.Seconds < nextLine) return;
                CliConsole.Out.WriteLine(DemoView.Line(sample));
                nextLine = sample.Seconds + 1;
            }, cancel);
        }
        // Ctrl+C ends the guests early; then nothing is saved, moved or reported (the process exits 130).
        cancel.ThrowIfCancellationRequested();
        CliProgress.Status("Saving and restoring one VM, moving another live to a second host...", _ =>
        {
            run.SaveRestoreAndMove(Path.GetDirectoryName(settings.ReportPath)!);
            return 0;
        });
        cancel.ThrowIfCancellationRequested();
        IReadOnlyList<string> problems = run.FindInconsistencies();
        var summary = DemoSummary.From(run, settings, problems.Count == 0);
        var table = new Table().Title("[bold]Summary[/]").AddColumns("figure", "value");
        foreach ((string figure, string value) in summary.Rows()) table.AddRow(UserText.Cell(figure), UserText.Cell(value));
        CliConsole.Out.Write(table);
        DemoReport.Write(settings.ReportPath, run, settings, summary);
        CliConsole.Out.Line($"Report written to [link]{settings.ReportPath}[/]");
        foreach (string problem in problems.Take(10)) ErrorReport.Write(new CliFailure(nameof(GmmError.ConsistencyCheckFailed), problem));
        if (summary.ContentErrors > 0) ErrorReport.Write(new CliFailure(nameof(GmmError.ConsistencyCheckFailed), $"{summary.ContentErrors:N0} guest pages read back wrong"));
        return problems.Count == 0 && summary.ContentErrors == 0 ? 0 : CommandRunner.TypedError;
    }
}
