using System.Diagnostics;
using GuestMemory.Gmm;
using GuestMemory.Migration;

namespace GuestMemory.Benchmarks;

/// <summary>
/// The source side of <c>gmm bench migrate</c>: builds the workload's VM in this process, starts its guest
/// writer, and moves it to a target host listening at host:port (another process, started by the
/// command). A small move goes first to warm the JIT of both processes up: a cold process would mostly
/// measure the compiler.
/// </summary>
public static class MigrationBench
{
    /// <summary>The warm-up move's workload: small, with some known content so every path runs.</summary>
    public static MigrationWorkload WarmUp(MigrationWorkload w) =>
        w with { RamMib = 64, RandomMib = 16, KnownMib = Math.Min(4, w.KnownMib), HotMib = Math.Min(8, w.HotMib) };

    /// <summary>Moves one VM of <paramref name="workload"/> to the target and returns the figures.</summary>
    public static MigrationFigures Run(string host, int port, MigrationWorkload workload, TimeSpan maxDowntime, IProgress<MigrationProgress>? progress = null)
    {
        using var gmm = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = workload.GuestBytes + (256L << 20) });
        VirtualMachine vm = workload.Create(gmm, "bench-vm");
        using var writer = new RateLimitedWriter(vm, (long)workload.HotMib << 20, workload.WriteMibPerSecond * (1 << 20));
        Thread.Sleep(50); // the guest is writing before the move starts
        long writtenBefore = writer.PagesWritten;
        long start = Stopwatch.GetTimestamp();
        MoveReport report = vm.MoveTo(host, port, writer.Pause, writer.Resume, new MoveOptions { MaxDowntime = maxDowntime }, progress);
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        return new MigrationFigures
        {
            TotalS = report.Total.TotalSeconds, DowntimeMs = report.Downtime.TotalMilliseconds, BytesSent = report.BytesSent, GuestBytes = report.GuestBytes,
            Passes = report.Passes.Count, BytesPerGuestByte = (double)report.BytesSent / report.GuestBytes,
            PagesPerPass = [.. report.Passes.Select(p => p.PagesTaken)], DataPagesPerPass = [.. report.Passes.Select(p => p.PagesWithData)],
            ContentReferences = report.Passes.Sum(p => p.ContentReferences), Duplicates = report.Passes.Sum(p => p.Duplicates),
            StopReason = report.StopReason, ExpectedFinalPassMs = report.ExpectedFinalPass.TotalMilliseconds, TargetCommitMs = report.TargetCommit.TotalMilliseconds,
            GuestWriteMibPerS = (writer.PagesWritten - writtenBefore) * (double)Paging.PageSize / (1 << 20) / seconds, MaxDowntimeMs = maxDowntime.TotalMilliseconds,
        };
    }
}
