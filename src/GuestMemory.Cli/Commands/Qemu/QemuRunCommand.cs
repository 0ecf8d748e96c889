using System.CommandLine;
using System.Diagnostics;
using GuestMemory.Qemu;
using GuestMemory.Cli.Output;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace GuestMemory.Cli.Commands.Qemu;

/// <summary>
/// <c>gmm qemu run --vms N --ram-mib M</c>: boots N guests with RAM in memfds this process owns, shows a
/// live table of each (state, RAM, its QEMU's RSS, the memfd's resident pages, zero pages, pages a
/// perfect sharing would save) refreshed every second, and ends every QEMU on exit and on Ctrl+C
/// (exit 130). Other gmm processes reach the guests by name (<c>gmm qemu dump</c>, <c>gmm qemu list</c>).
/// </summary>
internal static class QemuRunCommand
{
    public static Command Create()
    {
        var vms = new Option<int>("--vms") { Description = "Number of guests", DefaultValueFactory = _ => 2 };
        var ram = new Option<int>("--ram-mib") { Description = "Guest RAM per guest, MiB", DefaultValueFactory = _ => 256 };
        var cpus = new Option<int>("--cpus") { Description = "Virtual CPUs per guest", DefaultValueFactory = _ => 1 };
        var seconds = new Option<double>("--duration") { Description = "How long the guests run, seconds (0: until Ctrl+C)", DefaultValueFactory = _ => 0 };
        var prefix = new Option<string>("--name") { Description = "Guest names are this followed by 1, 2, ...", DefaultValueFactory = _ => "vm" };
        var workload = new Option<string>("--workload") { Description = "What the guests do: idle, or mixed (copies files, writes known text and random data, frees it, in turns)", DefaultValueFactory = _ => "idle" };
        var exact = new Option<bool>("--exact") { Description = "Pause the guests (QMP stop/cont) for each scan, so the figures are exact" };
        var plain = new Option<bool>("--no-live") { Description = "Print lines instead of a live table" };
        var budget = new Option<int>("--budget-mib") { Description = "Run the balloon controller: the guests' resident RAM (their memfds) is held under this budget, MiB (0: no controller)", DefaultValueFactory = _ => 0 };
        var report = new Option<string?>("--report") { Description = "With --budget-mib: write an HTML report (resident RAM against budget and promise, each guest's balloon over time) here at the end" };
        var verbose = new Option<bool>("--verbose") { Description = "Log the balloon controller's decisions and warnings to standard error" };
        budget.Validators.Add(r =>
        {
            int value = r.GetValueOrDefault<int>();
            if (value is < 0 or > 1 << 24 || value is > 0 and < 64) r.AddError("--budget-mib must be 0 (no controller) or 64 to 16777216");
        });
        var setup = new QemuCommand.GuestSetup();
        vms.Within(1, 16);
        ram.Within(64, 65536, " MiB");
        cpus.Within(1, 16);
        seconds.Within(0, 7 * 86400, " seconds");
        QemuCommand.OneOf(workload, "idle", "mixed");
        prefix.Validators.Add(r =>
        {
            string value = r.GetValueOrDefault<string>() ?? "";
            if (value.Length is 0 or > 24 || !value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_')) r.AddError("--name must be 1-24 of letters, digits, '-' and '_'");
        });
        var run = new Command("run", "Boot N real Linux guests under QEMU with their RAM in memfds gmm owns, and watch their memory live") { vms, ram, cpus, seconds, prefix, workload, exact, plain, budget, report, verbose };
        setup.AddTo(run);
        run.Validators.Add(r =>
        {
            if (r.GetValue(report) != null && r.GetValue(budget) == 0) r.AddError("--report needs --budget-mib (the report plots the balloon controller's run)");
        });
        run.SetAction((p, cancel) =>
        {
            string? reportPath = p.GetValue(report) is string path ? OutputPath.CheckFile(path, "report") : null;
            var settings = new QemuRunSettings(p.GetValue(vms), (long)p.GetValue(ram) << 20, p.GetValue(cpus), p.GetValue(seconds), p.GetValue(prefix)!,
                p.GetValue(workload) == "mixed", p.GetValue(exact), !p.GetValue(plain) && AnsiConsole.Profile.Capabilities.Interactive)
            {
                BudgetBytes = (long)p.GetValue(budget) << 20, ReportPath = reportPath, Verbose = p.GetValue(verbose),
            };
            return RunAsync(settings, setup.Resolve(p), cancel);
        });
        return run;
    }

    private static async Task<int> RunAsync(QemuRunSettings settings, (GuestKernel Kernel, GuestImage? Image, string? CustomInitrd, Accelerator Accelerator) setup, CancellationToken cancel)
    {
        AnsiConsole.MarkupLineInterpolated($"Booting {settings.Vms} guests of {settings.RamBytes >> 20} MiB: kernel {setup.Kernel.Version}, {(setup.Image != null ? $"gmm's image ({setup.Image.Modules.Count} modules)" : setup.CustomInitrd)}, {setup.Accelerator.ToString().ToLowerInvariant()}");
        var guests = new List<QemuGuest>();
        using var workloads = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        using ILoggerFactory logging = CliLogging.Create(settings.Verbose);
        QemuRunBalloon? balloon = null;
        try
        {
            Task<QemuGuest>[] starting = Enumerable.Range(1, settings.Vms).Select(i => QemuGuest.StartAsync(new GuestOptions
            {
                Name = $"{settings.Prefix}{i}", RamBytes = settings.RamBytes, Cpus = settings.Cpus, Kernel = setup.Kernel, Image = setup.Image,
                CustomInitrd = setup.CustomInitrd, Accelerator = setup.Accelerator,
                Balloon = settings.BudgetBytes > 0 ? new BalloonDevice(FreePageReporting: true, DeflateOnOom: true) : new BalloonDevice(),
            }, cancel)).ToArray();
            try
            {
                await Task.WhenAll(starting);
            }
            finally
            {
                foreach (Task<QemuGuest> t in starting)
                    if (t.IsCompletedSuccessfully) guests.Add(t.Result);
            }
            foreach (QemuGuest g in guests)
                AnsiConsole.MarkupLineInterpolated($"  {g.Name}: QEMU pid {g.Pid}, ready in {g.BootTime.TotalSeconds:0.0} s, folder {g.Paths.Directory}");
            if (settings.BudgetBytes > 0)
            {
                balloon = await QemuRunBalloon.StartAsync(guests, settings.BudgetBytes, logging, cancel);
                AnsiConsole.MarkupLineInterpolated($"Balloon controller: the guests' resident RAM under {settings.BudgetBytes >> 20} MiB ({settings.Vms * (settings.RamBytes >> 20)} MiB promised)");
            }
            Task[] work = settings.Mixed ? guests.Where(g => g.Shell != null).Select((g, i) => MixedWorkloadAsync(g, i, workloads.Token)).ToArray() : [];
            await WatchAsync(settings, guests, balloon, cancel);
            workloads.Cancel();
            await Task.WhenAll(work.Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default)));
            if (balloon != null && settings.ReportPath != null)
            {
                QemuRunReport.Write(settings.ReportPath, settings, balloon.Samples, setup.Kernel.Version, setup.Accelerator.ToString().ToLowerInvariant());
                AnsiConsole.MarkupLineInterpolated($"Report: {settings.ReportPath}");
            }
            AnsiConsole.MarkupLine("Ending the guests.");
            return 0;
        }
        finally
        {
            workloads.Cancel();
            if (balloon != null) await balloon.DisposeAsync();
            foreach (QemuGuest g in guests) await g.DisposeAsync();
        }
    }

    /// <summary>Refreshes the figures every second until the duration is over or Ctrl+C; a guest that dies is an error.</summary>
    private static async Task WatchAsync(QemuRunSettings settings, IReadOnlyList<QemuGuest> guests, QemuRunBalloon? balloon, CancellationToken cancel)
    {
        var clock = Stopwatch.StartNew();
        async Task Loop(Action<QemuRunSample> show)
        {
            while (true)
            {
                cancel.ThrowIfCancellationRequested();
                QemuRunSample sample = await QemuRunSample.TakeAsync(guests, settings.Exact, clock.Elapsed, cancel);
                if (balloon != null) sample = sample with { Balloon = balloon.Sample(clock.Elapsed.TotalSeconds) };
                show(sample);
                if (guests.FirstOrDefault(g => g.State == GuestState.Exited) is QemuGuest dead)
                    throw new QemuException(QemuError.GuestDied, $"guest {dead.Name} ended (QEMU exit status {await dead.Exited}): {dead.LastWords()}");
                if (settings.Seconds > 0 && clock.Elapsed.TotalSeconds >= settings.Seconds) return;
                TimeSpan wait = TimeSpan.FromSeconds(1) - sample.ScanTime;
                await Task.Delay(wait > TimeSpan.FromMilliseconds(100) ? wait : TimeSpan.FromMilliseconds(100), cancel);
            }
        }
        if (settings.Live)
            await AnsiConsole.Live(new Table()).AutoClear(false).StartAsync(context => Loop(s => { context.UpdateTarget(QemuRunView.Table(s)); context.Refresh(); }));
        else
            await Loop(s => Console.Out.WriteLine(QemuRunView.Line(s))); // plain lines, not wrapped at the console width
    }

    /// <summary>
    /// The mixed workload: every guest copies /lib/modules (the same files in every guest), writes 16 MiB of
    /// the same known text, 8 MiB of random data of its own, idles, frees it all, and starts again.
    /// </summary>
    private static async Task MixedWorkloadAsync(QemuGuest guest, int index, CancellationToken cancel)
    {
        GuestShell shell = guest.RequireShell();
        int mib = (int)Math.Max(1, guest.Options.RamBytes / 16 >> 20);
        try
        {
            while (!cancel.IsCancellationRequested)
            {
                await shell.CopyAsync("/lib/modules", "modules", cancel);
                await shell.FillAsync("text", mib, FillKind.Text, "gmm-run", cancel: cancel);
                await shell.FillAsync("random", Math.Max(1, mib / 2), FillKind.Random, cancel: cancel);
                await shell.IdleAsync(3 + index % 3, cancel);
                await shell.FreeAllAsync(cancel);
                await shell.IdleAsync(2, cancel);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or QemuException)
        {
            // ended with the run, or the guest died (which the watcher reports)
        }
    }
}

/// <summary>What <c>gmm qemu run</c> was asked for.</summary>
internal sealed record QemuRunSettings(int Vms, long RamBytes, int Cpus, double Seconds, string Prefix, bool Mixed, bool Exact, bool Live)
{
    /// <summary>The balloon controller's budget for the guests' resident RAM, or 0 for no controller.</summary>
    public long BudgetBytes { get; init; }
    /// <summary>Where to write the HTML report at the end (with a budget), or null.</summary>
    public string? ReportPath { get; init; }
    /// <summary>Log the controller's decisions and warnings.</summary>
    public bool Verbose { get; init; }
}
