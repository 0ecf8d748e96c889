using GuestMemory.Simulation;
using GuestMemory.Phys;
using Spectre.Console;

namespace GuestMemory.Cli.Demo;

/// <summary>The live table the demo shows while it runs (or one line per second when output is not a terminal).</summary>
internal static class DemoView
{
    public static Table Build(DemoRun run, DemoSample s)
    {
        var table = new Table().Border(TableBorder.Rounded)
            .Title($"GuestMemory demo · {s.Seconds:0.0} s · host RSS {Mib(s.RssBytes)} of budget {Mib(s.BudgetBytes)} MiB · promised {Mib(s.PromisedBytes)} MiB")
            .AddColumns("VM", "priority", "working set", "ballooned", "shared", "zero", "private");
        foreach (SimulatedGuest guest in run.Guests)
        {
            VirtualMachine vm = guest.Vm;
            if (vm.IsDestroyed) continue;
            GuestMemoryStatistics m = vm.Memory.GetStatistics();
            table.AddRow(vm.Name, vm.Options.Priority.ToString(), Pages(guest.Status.UsedPages), Pages(m.BalloonedPages),
                Pages(m.SharedPages), Pages(m.ZeroPages), Pages(m.AllocatedPages + m.WriteMonitoredPages));
        }
        if (run.ShutDownVm != null) table.AddRow($"[grey]{run.ShutDownVm}[/]", "[grey]shut down[/]", "", "", "", "", "");
        table.Caption($"sharing saves {Mib(s.SavedBySharing * Paging.PageSize)} MiB · balloons hold {Mib(s.BalloonedPages * Paging.PageSize)} MiB · {s.Chunks} chunks");
        return table;
    }

    public static string Line(DemoSample s) =>
        $"{s.Seconds,5:0.0}s rss {Mib(s.RssBytes)}/{Mib(s.BudgetBytes)} MiB, shared {Mib(s.SavedBySharing * Paging.PageSize)}, ballooned {Mib(s.BalloonedPages * Paging.PageSize)}, zero {Mib(s.ZeroPages * Paging.PageSize)} MiB, {s.Vms} VMs";

    private static string Pages(long pages) => $"{pages * Paging.PageSize / (1024.0 * 1024):N0} MiB";
    private static string Mib(long bytes) => $"{bytes / (1024.0 * 1024):N0}";
}
