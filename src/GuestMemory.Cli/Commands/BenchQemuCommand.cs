using System.CommandLine;
using GuestMemory.Cli.Output;
using GuestMemory.Benchmarks;
using GuestMemory.Qemu;
using Spectre.Console;

namespace GuestMemory.Cli.Commands;

/// <summary>
/// <c>gmm bench qemu [--json]</c>: real guests under QEMU (see <see cref="QemuBench"/>): boot time, memfd
/// scan speed, and the live page analysis of several guests after the same workload beside Linux KSM on
/// the same guests (needs root; KSM's settings are restored afterwards, also on Ctrl+C).
/// </summary>
internal static class BenchQemuCommand
{
    public static Command Create()
    {
        Option<bool> json = BenchCommand.JsonOption();
        var guests = new Option<int>("--vms") { Description = "Guests of the same image", DefaultValueFactory = _ => 4 }.Within(1, 16);
        var ram = new Option<int>("--ram-mib") { Description = "RAM per guest, MiB", DefaultValueFactory = _ => 256 }.Within(64, 8192);
        var noKsm = new Option<bool>("--no-ksm") { Description = "Skip the KSM peer (which needs root)" };
        Option<string> accel = Qemu.QemuCommand.AccelOption();
        var command = new Command("qemu", "Boot real guests under QEMU, read their RAM live through memfds, and compare the exact sharing potential with what KSM reaches") { json, guests, ram, noKsm, accel };
        command.SetAction(async (p, cancel) =>
        {
            var settings = new QemuBenchSettings(p.GetValue(guests), p.GetValue(ram), Qemu.QemuCommand.ResolveAccel(p.GetValue(accel)), !p.GetValue(noKsm));
            QemuBenchResult r = await QemuBench.RunAsync(settings, p.GetValue(json) ? null : new InlineProgress<BenchProgress>(s => CliConsole.Err.Line($"[grey]{s.Step}...[/]")), cancel);
            if (p.GetValue(json)) BenchJson.Write("qemu", JsonFields.Object(Json(r)));
            else Print(r);
            return 0;
        });
        return command;
    }

    private static IEnumerable<KeyValuePair<string, object?>> Json(QemuBenchResult r) =>
    [
        new("guests", r.Guests),
        new("guest_ram_mib", r.RamMib),
        new("accel", r.Accelerator.ToString().ToLowerInvariant()),
        new("kernel", r.Kernel),
        new("boot_s", Math.Round(r.BootSeconds, 2)),
        new("live_scan_gbps", Math.Round(r.ScanGbps, 2)),
        new("live_scan_bytes", r.ScannedBytes),
        new("live_analysis_s", Math.Round(r.AnalysisSeconds, 3)),
        new("total_pages", r.Figures.Pages),
        new("zero_pages", r.Figures.ZeroPages),
        new("distinct_nonzero_pages", r.Figures.DistinctNonZeroPages),
        new("savings_pct", Math.Round(r.Figures.SavingsPct, 2)),
        new("contents_in_several_guests", r.InSeveralGuests),
        new("memfd_resident_pages", r.MemfdResidentPages),
        new("ksm_savings_pct", r.Ksm == null ? null : Math.Round(r.Ksm.SavingsPct, 2)),
        new("ksm_converge_s", r.Ksm == null ? null : Math.Round(r.Ksm.ConvergeSeconds, 2)),
        new("ksm_converged", r.Ksm?.Converged),
        new("ksm_pages_sharing", r.Ksm?.PagesSharing),
        new("ksm_pages_shared", r.Ksm?.PagesShared),
        new("ksm_resident_pages", r.Ksm?.ResidentPages),
        new("ksm_full_scans", r.Ksm?.FullScans),
    ];

    private static void Print(QemuBenchResult r)
    {
        var table = new Table().Title($"{r.Guests} guests of {r.RamMib} MiB, kernel {r.Kernel}, {r.Accelerator.ToString().ToLowerInvariant()}").AddColumns("figure", "value");
        foreach ((string key, object? value) in Json(r)) table.AddRow(Markup.Escape(key), Markup.Escape(value?.ToString() ?? "-"));
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine("[grey]savings_pct: exact, all pages compared; ksm_savings_pct: untouched RAM plus pages_sharing over guest pages (docs/qemu.md)[/]");
    }
}
