using System.CommandLine;
using GuestMemory.Benchmarks;
using GuestMemory.Cli.Output;
using Spectre.Console;

namespace GuestMemory.Cli.Commands;

/// <summary><c>gmm bench alloc</c>: the Gmm's allocation figures beside their targets and the peers they are measured against.</summary>
internal static class BenchAllocCommand
{
    public static Command Create()
    {
        Option<bool> json = BenchCommand.JsonOption();
        var wallClock = new Option<bool>("--wall-clock") { Description = "Time with the wall clock (Stopwatch) instead of the thread's CPU time; right on a quiet machine" };
        var alloc = new Command("alloc", "Time page allocation, zeroing and first use of fresh chunks, and count metadata bytes per host page") { json, wallClock };
        alloc.SetAction(p => Run(p.GetValue(json), new Timing(p.GetValue(wallClock))));
        return alloc;
    }

    private static int Run(bool json, Timing timing)
    {
        AllocFigures f = AllocBench.Run(timing);
        if (json)
        {
            BenchJson.Write("alloc", CliJson.Node(f).AsObject());
            return 0;
        }
        var table = new Table().Title($"Gmm allocation (ns: {timing.Statistic})").AddColumns("figure", "value", "target", "met");
        Row(table, "allocate + free, batches of 128 (ns/page)", f.AllocFreeNsPerPage, "<= 20", f.AllocFreeNsPerPage <= 20);
        double ratio = f.AllocZeroedNsPerPage / f.SpanClearNsPerPage;
        Row(table, "allocate zeroed (ns/page)", f.AllocZeroedNsPerPage, $"<= 1.5 x clear ({ratio:0.00} x)", ratio <= 1.5);
        Row(table, "4 KiB Span.Clear (ns/page)", f.SpanClearNsPerPage, "peer", null);
        Row(table, "first use of fresh chunks (ns/page)", f.NewChunkNsPerPage, "<= kernel fault", f.NewChunkNsPerPage <= f.KernelFaultNsPerPage);
        Row(table, "mmap + touch + munmap (ns/page)", f.KernelFaultNsPerPage, "peer", null);
        Row(table, "metadata bytes per host page", f.GmmBytesPerHostPage, "8", f.GmmBytesPerHostPage <= 8);
        CliConsole.Out.Write(table);
        return 0;
    }

    private static void Row(Table table, string figure, double value, string target, bool? met) =>
        table.AddRow(figure, $"{value:0.00}", target, met switch { true => "[green]yes[/]", false => "[red]no[/]", null => "" });
}
