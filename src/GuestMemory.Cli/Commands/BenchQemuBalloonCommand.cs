using System.CommandLine;
using GuestMemory.Benchmarks;
using GuestMemory.Cli.Output;
using GuestMemory.Qemu;
using Spectre.Console;

namespace GuestMemory.Cli.Commands;

/// <summary>
/// <c>gmm bench qemu-balloon [--json]</c>: over-commit of real QEMU guests (see <see cref="QemuBalloonBench"/>):
/// the guests' peak resident RAM against the budget with GuestMemory's balloon controller, beside free page
/// reporting alone and no balloon on the same workload; settle times, OOM kills and stalled growers.
/// </summary>
internal static class BenchQemuBalloonCommand
{
    public static Command Create()
    {
        Option<bool> json = BenchCommand.JsonOption();
        var guests = new Option<int>("--vms") { Description = "Guests", DefaultValueFactory = _ => 4 }.Within(2, 16);
        var ram = new Option<int>("--ram-mib") { Description = "RAM per guest, MiB", DefaultValueFactory = _ => 384 }.Within(128, 8192);
        var budget = new Option<int>("--budget-mib") { Description = "Budget for the guests' resident RAM (their memfds), MiB", DefaultValueFactory = _ => 768 }.Within(64, 1 << 20);
        var grow = new Option<int>("--grow-mib") { Description = "How far each guest grows into tmpfs in its turn, MiB", DefaultValueFactory = _ => 256 }.Within(10, 8192);
        var cache = new Option<int>("--cache-mib") { Description = "Files each guest writes to its own disk and reads back at start, MiB", DefaultValueFactory = _ => 150 }.Within(1, 8192);
        var noPeers = new Option<bool>("--no-peers") { Description = "Run the controller only (not free page reporting alone and no balloon)" };
        Option<string> accel = Qemu.QemuCommand.AccelOption();
        var command = new Command("qemu-balloon", "Over-commit real QEMU guests with the balloon controller, beside free page reporting alone and no balloon on the same workload") { json, guests, ram, budget, grow, cache, noPeers, accel };
        // Cancellable: on Ctrl+C the run's finally blocks end its QEMUs and delete its disk images, then gmm exits 130.
        command.SetCancellableRun((p, cancel) => RunAsync(p, cancel).GetAwaiter().GetResult());
        async Task<int> RunAsync(ParseResult p, CancellationToken cancel)
        {
            var settings = new QemuBalloonBenchSettings(p.GetValue(guests), p.GetValue(ram), p.GetValue(budget), p.GetValue(grow), p.GetValue(cache),
                Qemu.QemuCommand.ResolveAccel(p.GetValue(accel)), !p.GetValue(noPeers));
            QemuBalloonBenchResult r = await QemuBalloonBench.RunAsync(settings, new InlineProgress<BenchProgress>(s => CliConsole.Err.MarkupLineInterpolated($"[grey]{s.Step}...[/]")), cancel);
            if (p.GetValue(json)) BenchJson.Write("qemu-balloon", JsonFields.Object(Json(r)));
            else Print(r);
            return 0;
        }
        return command;
    }

    private static IEnumerable<KeyValuePair<string, object?>> Json(QemuBalloonBenchResult r)
    {
        QemuBalloonRunResult c = r.Controller;
        QemuBalloonRunResult? fpr = r.Run(QemuBalloonMode.FreePageReporting), none = r.Run(QemuBalloonMode.NoBalloon);
        return
        [
            new("guests", r.Settings.Guests),
            new("guest_ram_mib", r.Settings.RamMib),
            new("budget_mib", r.Settings.BudgetMib),
            new("grow_mib", r.Settings.GrowMib),
            new("cache_mib", r.Settings.CacheMib),
            new("kernel", r.Kernel),
            new("peak_resident_mib", c.PeakResidentBytes >> 20),
            new("peak_qemu_rss_mib", c.PeakQemuRssBytes >> 20),
            new("peak_rss_over_budget_pct", Math.Round(r.OverBudgetPct(c), 2)),
            new("settle_ms_p50", Math.Round(r.SettlePercentile(50), 1)),
            new("settle_ms_p99", Math.Round(r.SettlePercentile(99), 1)),
            new("settles", c.SettleMs.Count),
            new("guest_oom_kills", c.OomKills),
            new("workload_stalls", c.Stalls),
            new("slowest_grow_write_ms", Math.Round(c.SlowestWriteMs, 1)),
            new("fpr_peak_resident_mib", fpr == null ? null : fpr.PeakResidentBytes >> 20),
            new("fpr_peak_rss_over_budget_pct", fpr == null ? null : Math.Round(r.OverBudgetPct(fpr), 2)),
            new("fpr_guest_oom_kills", fpr?.OomKills),
            new("no_balloon_peak_resident_mib", none == null ? null : none.PeakResidentBytes >> 20),
            new("no_balloon_peak_rss_over_budget_pct", none == null ? null : Math.Round(r.OverBudgetPct(none), 2)),
            new("no_balloon_guest_oom_kills", none?.OomKills),
        ];
    }

    private static void Print(QemuBalloonBenchResult r)
    {
        var table = new Table().Title($"{r.Settings.Guests} guests of {r.Settings.RamMib} MiB on a budget of {r.Settings.BudgetMib} MiB, kernel {Markup.Escape(UserText.Visible(r.Kernel))}").AddColumns("figure", "value");
        foreach ((string key, object? value) in Json(r)) table.AddRow(Markup.Escape(key), Markup.Escape(value?.ToString() ?? "-"));
        CliConsole.Out.Write(table);
    }
}
