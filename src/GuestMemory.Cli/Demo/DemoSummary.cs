using GuestMemory.Balloon;

namespace GuestMemory.Cli.Demo;

/// <summary>The figures the demo ends with, shared by the console summary and the HTML report.</summary>
internal sealed record DemoSummary(
    long PromisedBytes, long BudgetBytes, long BaselineRss, long PeakRssAboveBaseline, long FinalRssAboveBaseline,
    long ZeroBytes, long SharingSavedBytes, long BalloonedBytes, long PeakBalloonedBytes, int ChunksReturnedAtShutdown,
    long ContentErrors, long RefusedWrites, bool Verified, int ImageFiles)
{
    private const long Page = Paging.PageSize;

    public static DemoSummary From(DemoRun run, DemoSettings settings, bool verified)
    {
        DemoSample last = run.Samples[^1];
        long peakRss = run.Samples.Max(s => s.RssBytes);
        long errors = 0, refused = 0;
        foreach (SimulatedGuest guest in run.Guests)
        {
            errors += guest.Counters.ContentErrors + guest.VerifyContent().Count;
            refused += guest.Counters.AllocationFailures;
        }
        return new DemoSummary(settings.PromisedBytes, settings.HostBudgetBytes, run.BaselineRss, peakRss - run.BaselineRss, last.RssBytes - run.BaselineRss,
            last.ZeroPages * Page, last.SavedBySharing * Page, last.BalloonedPages * Page, run.Samples.Max(s => s.BalloonedPages) * Page,
            run.ChunksReturnedAtShutdown, errors, refused, verified, run.Image.Files);
    }

    /// <summary>Rows of (figure, value) for tables.</summary>
    public IEnumerable<(string Figure, string Value)> Rows()
    {
        yield return ("guest RAM promised", $"{Mib(PromisedBytes)} MiB");
        yield return ("host budget for guest pages", $"{Mib(BudgetBytes)} MiB ({100.0 * BudgetBytes / PromisedBytes:0}% of the promise)");
        yield return ("real RSS above the process baseline, peak / end", $"{Mib(PeakRssAboveBaseline)} / {Mib(FinalRssAboveBaseline)} MiB (kept under {Mib(BudgetBytes + DemoSettings.RuntimeSlackBytes)}: the budget + {Mib(DemoSettings.RuntimeSlackBytes)} MiB for the runtime)");
        yield return ("saved by zero pages (end)", $"{Mib(ZeroBytes)} MiB");
        yield return ("saved by page sharing (end)", $"{Mib(SharingSavedBytes)} MiB (OS image of {ImageFiles} runtime files in every VM)");
        yield return ("saved by ballooning (end / peak)", $"{Mib(BalloonedBytes)} / {Mib(PeakBalloonedBytes)} MiB");
        yield return ("chunks given back by the shutdown and compaction", $"{ChunksReturnedAtShutdown} ({ChunksReturnedAtShutdown * 2} MiB)");
        yield return ("guest writes refused for lack of memory (retried later)", $"{RefusedWrites:N0}");
        yield return ("guest pages that read back wrong", $"{ContentErrors:N0}");
        yield return ("consistency check (Verify)", Verified ? "clean" : "FAILED");
    }

    private static string Mib(long bytes) => $"{bytes / (1024.0 * 1024):N0}";
}
