using System.CommandLine;
using GuestMemory.Benchmarks;
using GuestMemory.Cli.Output;
using GuestMemory.Qemu;
using Spectre.Console;

namespace GuestMemory.Cli.Commands;

/// <summary>
/// <c>gmm bench qemu-store [--json]</c>: GuestMemory as QEMU's migration peer (see <see cref="QemuStoreBench"/>):
/// what the store keeps of four real guests beside QEMU's own stream and its zstd, storing and resuming beside
/// QEMU's suspend to a file and resume from it, and moving a guest to a store that holds the others beside
/// QEMU's own migration bytes. Targets in <see cref="BenchTargets"/>.
/// </summary>
internal static class BenchQemuStoreCommand
{
    public static Command Create()
    {
        Option<bool> json = BenchCommand.JsonOption();
        var ram = new Option<int>("--ram-mib") { Description = "RAM per guest, MiB", DefaultValueFactory = _ => 256 }.Within(128, 8192);
        Option<string> accel = Qemu.QemuCommand.AccelOption();
        var command = new Command("qemu-store", "Store 4 real guests in GuestMemory's QEMU store, resume and move them, beside QEMU's own files, zstd and migration") { json, ram, accel };
        command.SetAction(async (p, cancel) =>
        {
            var settings = new QemuStoreBenchSettings(p.GetValue(ram), Qemu.QemuCommand.ResolveAccel(p.GetValue(accel)));
            QemuStoreFigures r = await QemuStoreBench.RunAsync(settings, p.GetValue(json) ? null : new InlineProgress<BenchProgress>(s => CliConsole.Err.Line($"[grey]{s.Step}...[/]")), cancel);
            if (p.GetValue(json)) BenchJson.Write("qemu-store", JsonFields.Object(Json(r)));
            else Print(r);
            return 0;
        });
        return command;
    }

    private static IEnumerable<KeyValuePair<string, object?>> Json(QemuStoreFigures r) =>
    [
        new("guests", r.Guests),
        new("guest_ram_mib", r.RamMib),
        new("workloads", string.Join("; ", r.Workloads.Select((w, i) => $"guest {i + 1}: {w}"))),
        new("guest_bytes", r.GuestBytes),
        new("stored_bytes", r.StoredBytes),
        new("store_host_bytes", r.StoreHostBytes),
        new("store_file_bytes", r.StoreFileBytes),
        new("qemu_stream_bytes", r.QemuStreamBytes),
        new("zstd_stream_bytes", r.ZstdStreamBytes),
        new("stored_bytes_per_guest_byte", Ratio(r.StoredBytes, r.GuestBytes)),
        new("qemu_stream_bytes_per_guest_byte", Ratio(r.QemuStreamBytes, r.GuestBytes)),
        new("zstd_stream_bytes_per_guest_byte", Ratio(r.ZstdStreamBytes, r.GuestBytes)),
        new("zstd_s", Math.Round(r.ZstdSeconds, 3)),
        new("store_s", Math.Round(r.StoreSeconds, 3)),
        new("qemu_store_s", Math.Round(r.QemuStoreSeconds, 3)),
        new("resume_s", Math.Round(r.ResumeSeconds, 3)),
        new("resume_stream_s", Math.Round(r.StreamResumeSeconds, 3)),
        new("qemu_resume_s", Math.Round(r.QemuResumeSeconds, 3)),
        new("resume_vs_qemu", Math.Round(r.ResumeRatio, 3)),
        new("resume_stream_vs_qemu", Math.Round(r.StreamResumeRatio, 3)),
        new("resume_resident_mib", Math.Round(r.ResumeResidentBytes / 1048576.0, 1)),
        new("qemu_resume_resident_mib", Math.Round(r.QemuResumeResidentBytes / 1048576.0, 1)),
        new("relay_bytes", r.RelayBytes),
        new("relay_bytes_per_guest_byte", Ratio(r.RelayBytes, r.RelayGuestBytes)),
        new("qemu_migrate_bytes_per_guest_byte", Ratio(r.QemuMigrateBytes, r.RelayGuestBytes)),
        new("relay_live_bytes_per_guest_byte", Ratio(r.RelayLiveBytes, r.RelayGuestBytes)),
        new("relay_downtime_ms", r.RelayDowntimeMs),
        new("relay_stream_downtime_ms", r.RelayStreamDowntimeMs),
        new("qemu_migrate_downtime_ms", r.QemuMigrateDowntimeMs),
        new("nonzero_pages", r.NonZeroPages),
        new("shared_pages", r.SharedPages),
    ];

    private static double Ratio(long part, long whole) => whole == 0 ? double.NaN : Math.Round((double)part / whole, 4);

    private static void Print(QemuStoreFigures r)
    {
        var table = new Table().Title($"{r.Guests} guests of {r.RamMib} MiB in GuestMemory's QEMU store").AddColumns("figure", "value");
        foreach ((string key, object? value) in Json(r)) table.AddRow(Markup.Escape(key), Markup.Escape(value?.ToString() ?? "-"));
        CliConsole.Out.Write(table);
    }
}
