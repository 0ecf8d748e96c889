using GuestMemory.Simulation;
using GuestMemory.Cli.Output;
using GuestMemory.Phys;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace GuestMemory.Cli.Demo;

/// <summary>
/// What the demo shows while it runs: on a terminal a live view (a status line that is cut, never
/// wrapped, to the terminal's width, then a table per VM); otherwise one line per second. Every figure
/// carries its unit; RSS is real RSS above the process's baseline, against the one budget.
/// </summary>
internal static class DemoView
{
    /// <summary>The live view while the VMs start.</summary>
    public static IRenderable Booting(string step) =>
        new Rows(Status(SafeText.Of($"[bold]GuestMemory demo[/] · {step}")), new Markup("[grey]the live table appears once every VM runs[/]"));

    /// <summary>The live view at <paramref name="s"/>.</summary>
    public static IRenderable Build(DemoRun run, DemoSample s)
    {
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumns("VM", "priority", "working set", "ballooned", "shared", "zero", "private");
        foreach (SimulatedGuest guest in run.Guests)
        {
            VirtualMachine vm = guest.Vm;
            if (vm.IsDestroyed) continue;
            GuestMemoryStatistics m = vm.Memory.GetStatistics();
            table.AddRow(UserText.Cell(vm.Name), new Text(vm.Options.Priority.ToString()), Cell(guest.Status.UsedPages), Cell(m.BalloonedPages),
                Cell(m.SharedPages), Cell(m.ZeroPages), Cell(m.AllocatedPages + m.WriteMonitoredPages));
        }
        if (run.ShutDownVm != null) table.AddRow(new Markup(SafeText.Of($"[grey]{run.ShutDownVm}[/]")), new Markup("[grey]shut down[/]"));
        table.Caption($"sharing saves {Mib(s.SavedBySharing * Paging.PageSize)} · balloons hold {Mib(s.BalloonedPages * Paging.PageSize)} · {s.Chunks} chunks of 2 MiB");
        string status = SafeText.Of($"[bold]GuestMemory demo[/] · {s.Seconds:0.0} s · RSS {Mib(s.RssBytes)} of the {Mib(s.BudgetBytes)} budget · guests use {Mib(s.GuestUsedBytes)} · promised {Mib(s.PromisedBytes)}");
        return new Rows(Status(status), table);
    }

    /// <summary>One line per second, when standard output is not a terminal (or with --no-live).</summary>
    public static string Line(DemoSample s) =>
        $"{s.Seconds,5:0.0} s  RSS {Mib(s.RssBytes)} of {Mib(s.BudgetBytes)} · guests use {Mib(s.GuestUsedBytes)} · sharing saves {Mib(s.SavedBySharing * Paging.PageSize)} · " +
        $"ballooned {Mib(s.BalloonedPages * Paging.PageSize)} · zero pages {Mib(s.ZeroPages * Paging.PageSize)} · {s.Vms} VMs";

    /// <summary>A line cut with an ellipsis at the console's width: it never wraps, so the live view never jumps.</summary>
    private static OneLine Status(string markup) => new(markup);

    private static Text Cell(long pages) => new(Mib(pages * Paging.PageSize));

    /// <summary>Bytes in whole MiB, with the unit; never "-0" (a figure is clamped at zero).</summary>
    public static string Mib(long bytes) => $"{Math.Max(0, bytes) / (1024.0 * 1024):N0} MiB";
}
