using GuestMemory.Simulation;

namespace GuestMemory.Cli.Demo;

/// <summary>The figures the demo ends with, shared by the console summary and the HTML report.</summary>
internal sealed record DemoSummary(
    long PromisedBytes, long BudgetBytes, long BaselineRss, long PeakRssAboveBaseline, long FinalRssAboveBaseline,
    long ZeroBytes, long SharingSavedBytes, long BalloonedBytes, long PeakBalloonedBytes, int ChunksReturnedAtShutdown,
    long ContentErrors, long RefusedWrites, bool Verified, int ImageFiles, DemoSavedState? SavedState, DemoMove? Move)
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
            run.ChunksReturnedAtShutdown, errors + (run.SavedState?.ContentErrors ?? 0) + (run.Move?.ContentErrors ?? 0), refused,
            verified, run.Image.Files, run.SavedState, run.Move);
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
        if (SavedState is { Failure: null } state)
            yield return ($"{state.Vm} saved to a file, a copy started from it on a second host", $"{Mib(state.FileBytes)} MiB file for {Mib(state.GuestBytes)} MiB of guest RAM ({(double)state.FileBytes / state.GuestBytes:0.00} bytes per byte); saved in {state.SaveSeconds * 1000:N0} ms, restored in {state.RestoreSeconds * 1000:N0} ms");
        else if (SavedState is { Failure: { } why } notSaved)
            yield return ($"saved state of {notSaved.Vm}", $"failed, nothing changed: {why}");
        if (Move is { Report: { } move } moved)
            yield return ($"live move of {moved.Vm} to the second host (TCP on loopback, guest writing)", $"{move.Total.TotalSeconds:0.00} s, downtime {move.Downtime.TotalMilliseconds:0.0} ms, {Mib(move.BytesSent)} MiB on the wire for {Mib(move.GuestBytes)} MiB of guest RAM, {move.Passes.Count} passes, {move.Passes.Sum(p => p.ContentReferences):N0} pages sent as content references");
        else if (Move is { Failure: { } failure } failed)
            yield return ($"live move of {failed.Vm}", $"failed, the VM stayed: {failure}");
        yield return ("guest writes refused for lack of memory (retried later)", $"{RefusedWrites:N0}");
        yield return ("guest pages that read back wrong (after restore and move too)", $"{ContentErrors:N0}");
        yield return ("consistency check (Verify), both hosts", Verified ? "clean" : "FAILED");
    }

    private static string Mib(long bytes) => $"{bytes / (1024.0 * 1024):N0}";
}
