using System.CommandLine;
using GuestMemory.Cli.Output;
using GuestMemory.Qemu;
using Spectre.Console;

namespace GuestMemory.Cli.Commands.Qemu;

/// <summary><c>gmm qemu list</c>: the guests every running <c>gmm qemu run</c> on this machine has, with their memory figures.</summary>
internal static class QemuListCommand
{
    public static Command Create()
    {
        Option<bool> json = BenchCommand.JsonOption();
        var list = new Command("list", "List the running guests of every gmm on this machine") { json };
        list.SetAction(p => Run(p.GetValue(json)));
        return list;
    }

    private static int Run(bool json)
    {
        var rows = RunDirectory.FindGuests().OrderBy(r => r.OwnerPid).ThenBy(r => r.Name, StringComparer.Ordinal)
            .Select(r => (Record: r, Rss: ProcessInfo.RssBytes(r.QemuPid), Resident: Resident(r))).ToArray();
        if (json)
        {
            var items = new System.Text.Json.Nodes.JsonArray();
            foreach (var (r, rss, resident) in rows)
                items.Add(JsonFields.Object([
                    new("name", r.Name), new("owner_pid", r.OwnerPid), new("qemu_pid", r.QemuPid), new("ram_bytes", r.RamBytes),
                    new("qemu_rss_bytes", rss), new("memfd_resident_bytes", resident), new("monitor_socket", r.MonitorSocket), new("console_log", r.ConsoleLog),
                ]));
            CliJson.WriteOut(CliJson.Result("qemu list", new System.Text.Json.Nodes.JsonObject { ["guests"] = rows.Length }, items));
            return 0;
        }
        if (rows.Length == 0)
        {
            AnsiConsole.MarkupLine("No guests are running (gmm qemu run starts some).");
            return 0;
        }
        var table = new Table().AddColumns("guest", "gmm pid", "QEMU pid", "RAM", "QEMU RSS", "memfd resident", "QMP socket for you");
        foreach (var (r, rss, resident) in rows)
            table.AddRow(Markup.Escape(r.Name), $"{r.OwnerPid}", $"{r.QemuPid}", Mib(r.RamBytes), rss is long b ? Mib(b) : "-", resident is long m ? Mib(m) : "-", Markup.Escape(r.MonitorSocket));
        AnsiConsole.Write(table);
        return 0;
    }

    private static long? Resident(GuestRecord record)
    {
        if (record.RamPath == null) return null;
        try
        {
            using GuestRam ram = GuestRam.Open(record.RamPath, record.Name);
            return ram.ResidentBytes;
        }
        catch (QemuException)
        {
            return null; // it ended meanwhile
        }
    }

    private static string Mib(long bytes) => $"{bytes / (1024.0 * 1024):N0} MiB";
}
