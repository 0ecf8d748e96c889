using GuestMemory.Cli.Output;
using GuestMemory.Qemu;
using Spectre.Console;

namespace GuestMemory.Cli.Commands.Qemu;

/// <summary>The balloon controller's part of <c>gmm qemu run --budget-mib</c>'s table and lines: each guest's target, actual RAM and idle memory, and the resident RAM against the budget.</summary>
internal static class QemuRunBalloonView
{
    public static Table Table(QemuBalloonSample b)
    {
        string over = b.ResidentBytes > b.BudgetBytes ? "red" : "green";
        var table = new Table().Border(TableBorder.Rounded)
            .Title($"balloon controller · resident guest RAM [{over}]{Mib(b.ResidentBytes)}[/] of {Mib(b.BudgetBytes)} budget · {Mib(b.PromisedBytes)} promised")
            .AddColumns("guest", "balloon driver", "target RAM", "actual RAM", "idle (available)");
        foreach (QemuBalloonRow r in b.Rows)
            table.AddRow(new Text(UserText.Visible(r.Name)), new Markup(State(r.State)), new Text(Mib(r.TargetBytes)), new Text(Mib(r.ActualBytes)), new Text(r.IdleBytes is long idle ? Mib(idle) : "-"));
        table.Caption($"QEMU processes' RSS {Mib(b.QemuRssBytes)} (outside the budget)");
        return table;
    }

    public static string Line(QemuBalloonSample b) =>
        $"resident {Mib(b.ResidentBytes)} of budget {Mib(b.BudgetBytes)}: " +
        string.Join(", ", b.Rows.Select(r => $"{r.Name} {r.State.ToString().ToLowerInvariant()} target {Mib(r.TargetBytes)} actual {Mib(r.ActualBytes)} idle {(r.IdleBytes is long idle ? Mib(idle) : "-")}"));

    private static string State(QemuBalloonState state) => state switch
    {
        QemuBalloonState.Working => "[green]working[/]",
        QemuBalloonState.Waiting => "[yellow]waiting[/]",
        QemuBalloonState.NoDriver => "[red]no driver[/]",
        _ => "[red]failed[/]",
    };

    private static string Mib(long bytes) => $"{bytes / (1024.0 * 1024):N0} MiB";
}
