using GuestMemory.Simulation;

namespace GuestMemory.Cli.Demo;

/// <summary>The figures the demo ends with, shared by the console summary and the HTML report.</summary>
internal sealed record DemoSummary(
    long PromisedBytes, long BudgetBytes, long BaselineRss, long PeakRssAboveBaseline, long FinalRssAboveBaseline,
    long ZeroBytes, long SharingSavedBytes, long BalloonedBytes, long PeakBalloonedBytes, DemoChunks Chunks,
    long ContentErrors, long RefusedWrites, bool Verified, int ImageFiles, DemoSavedState? SavedState, DemoMove? Move)
{
    private const long Page = Paging.PageSize;

    public static DemoSummary From(DemoRun run, DemoSettings settings, bool verified)
    {
        // The budget governs the run; the save and the move after it start a second host in this process, whose memory is not the first host's.
        IReadOnlyList<DemoSample> samples = [.. run.Samples.Where(s => s.Seconds <= run.RunSeconds)];
        DemoSample last = samples[^1];
        long peakRss = samples.Max(s => s.RssBytes);
        long errors = 0, refused = 0;
        foreach (SimulatedGuest guest in run.Guests)
        {
            errors += guest.Counters.ContentErrors + guest.VerifyContent().Count;
            refused += guest.Counters.AllocationFailures;
        }
        var chunks = new DemoChunks(run.ChunksBeforeShutdown?.Count ?? 0, run.ChunksAfterShutdown?.Count ?? 0, run.ChunksReturnedAtShutdown);
        return new DemoSummary(settings.PromisedBytes, settings.BudgetBytes, run.BaselineRss, peakRss, last.RssBytes,
            last.ZeroPages * Page, last.SavedBySharing * Page, last.BalloonedPages * Page, samples.Max(s => s.BalloonedPages) * Page,
            chunks, errors + (run.SavedState?.ContentErrors ?? 0) + (run.Move?.ContentErrors ?? 0), refused,
            verified, run.Image.Files, run.SavedState, run.Move);
    }

    /// <summary>Rows of (figure, value) for tables.</summary>
    public IEnumerable<(string Figure, string Value)> Rows()
    {
        yield return ("guest RAM promised", $"{Mib(PromisedBytes)} MiB");
        yield return ("host budget (real RSS above the process's baseline)", $"{Mib(BudgetBytes)} MiB ({100.0 * BudgetBytes / PromisedBytes:0}% of the promise)");
        yield return ("real RSS above the process's baseline, peak / end", $"{Mib(PeakRssAboveBaseline)} / {Mib(FinalRssAboveBaseline)} MiB");
        yield return ("saved by zero pages (end)", $"{Mib(ZeroBytes)} MiB");
        yield return ("saved by page sharing (end)", $"{Mib(SharingSavedBytes)} MiB (OS image of {ImageFiles} runtime files in every VM)");
        yield return ("saved by ballooning (end / peak)", $"{Mib(BalloonedBytes)} / {Mib(PeakBalloonedBytes)} MiB");
        if (Chunks.Before > 0)
            yield return ("chunks given back to the host by the shutdown and compaction", $"{Chunks.GivenBack} ({Chunks.GivenBack * 2} MiB); {Chunks.Before} chunks before, {Chunks.After} after (the running guests took {Chunks.TakenMeanwhile} new ones meanwhile)");
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

    private static string Mib(long bytes) => $"{Math.Max(0, bytes) / (1024.0 * 1024):N0}";
}

/// <summary>
/// The chunks around the VM shutdown: how many the Gmm held just before it and just after the
/// compaction that followed (what the report's maps show), and how many went back to the host in
/// between. Before − given back differs from after because the guests still running kept writing and
/// took new chunks meanwhile.
/// </summary>
internal sealed record DemoChunks(int Before, int After, int GivenBack)
{
    /// <summary>Chunks the running guests took between the two maps.</summary>
    public int TakenMeanwhile => Math.Max(0, After - Before + GivenBack);
}
