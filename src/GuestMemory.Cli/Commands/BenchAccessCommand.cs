using System.CommandLine;
using GuestMemory.Benchmarks;
using GuestMemory.Cli.Output;
using Spectre.Console;

namespace GuestMemory.Cli.Commands;

/// <summary><c>gmm bench access</c>: guest memory access through the API beside the same work on plain memory.</summary>
internal static class BenchAccessCommand
{
    public static Command Create()
    {
        Option<bool> json = BenchCommand.JsonOption();
        var repetitions = new Option<int>("--repetitions") { Description = "Timed runs per figure (the median is reported)", DefaultValueFactory = _ => 7 };
        repetitions.Within(1, 101);
        var access = new Command("access", "Read/Write/ReadUInt64 throughput and latency, first writes and metadata per guest page, beside memcpy, raw reads and kernel faults")
        {
            json, repetitions,
        };
        access.SetAction(p => Print(AccessBench.Run(p.GetValue(repetitions)), p.GetValue(json)));
        return access;
    }

    private static int Print(AccessFigures f, bool json)
    {
        if (json)
        {
            BenchJson.Write("access", CliJson.Node(f).AsObject());
            return 0;
        }
        var table = new Table().Title($"gmm bench access (median of {f.Repetitions} runs after a warm-up; huge pages: {f.HugePages})")
            .AddColumns("figure", "API", "baseline", "ratio", "target");
        table.AddRow("4 KiB Write, GB/s", F(f.Write4kGbps), $"memcpy {F(f.Memcpy4kGbps)}", Pct(f.Write4kGbps / f.Memcpy4kGbps), ">= 80%");
        table.AddRow("4 KiB Read, GB/s", F(f.Read4kGbps), $"memcpy {F(f.Memcpy4kReadGbps)}", Pct(f.Read4kGbps / f.Memcpy4kReadGbps), ">= 80%");
        table.AddRow("random 8-byte read, vCPU accessor, ns", F(f.Read8RandomNs), $"raw {F(f.RawRead8RandomNs)}", $"{f.Read8RandomNs / f.RawRead8RandomNs:0.00}x", "<= 1.5x");
        table.AddRow("random 8-byte read, vCPU accessor, ns", F(f.Read8RandomNs), $"huge-page raw {F(f.RawRead8RandomThpNs)}", $"{f.Read8RandomNs / f.RawRead8RandomThpNs:0.00}x", "");
        table.AddRow("random ReadUInt64 (no accessor), ns", F(f.Read8PlainRandomNs), $"raw {F(f.RawRead8RandomNs)}", $"{f.Read8PlainRandomNs / f.RawRead8RandomNs:0.00}x", "");
        table.AddRow("random Read(8-byte span), ns", F(f.Read8SpanRandomNs), $"raw {F(f.RawRead8RandomNs)}", $"{f.Read8SpanRandomNs / f.RawRead8RandomNs:0.00}x", "");
        table.AddRow("first write per page, ns", F(f.FirstWriteNsPerPage), $"mmap+touch {F(f.KernelFaultNsPerPage)}", $"{f.FirstWriteNsPerPage / f.KernelFaultNsPerPage:0.00}x", "<= 1x");
        table.AddRow("PGM metadata per guest page, bytes", F(f.PgmBytesPerGuestPage), "VirtualBox 16", $"entry {f.PgmEntryBytes} B", "8");
        table.AddRow("PGM metadata per VM (fixed), bytes", f.PgmFixedBytesPerVm.ToString("N0", System.Globalization.CultureInfo.InvariantCulture), "", "", "");
        CliConsole.Out.Write(table);
        return 0;
    }

    private static string F(double value) => value.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture);

    private static string Pct(double ratio) => $"{ratio * 100:0}%";
}
