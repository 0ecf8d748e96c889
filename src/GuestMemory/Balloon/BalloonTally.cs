using Microsoft.Extensions.Logging;

namespace GuestMemory.Balloon;

/// <summary>
/// The counting both controllers share (<see cref="BalloonController"/> for VMs of the Gmm,
/// <see cref="GuestBalloonController"/> for guests outside it): one step added to the running totals, and
/// the decision record built from a plan, a step's log lines and the loop body that runs a step.
/// No state: the callers keep theirs.
/// </summary>
internal static class BalloonTally
{
    /// <summary>The totals after one more step that changed <paramref name="changes"/> (old, new target) and saw <paramref name="reclaimed"/> pages go into balloons.</summary>
    public static BalloonControllerCounters Add(BalloonControllerCounters c, BalloonPlan plan, IEnumerable<(long Old, long New)> changes, long reclaimed)
    {
        (long Old, long New)[] all = changes.ToArray();
        return c with
        {
            Steps = c.Steps + 1,
            Decisions = c.Decisions + (all.Length > 0 ? 1 : 0),
            InflateRequests = c.InflateRequests + all.Count(x => x.New > x.Old),
            DeflateRequests = c.DeflateRequests + all.Count(x => x.New < x.Old),
            PagesRequested = c.PagesRequested + all.Where(x => x.New > x.Old).Sum(x => x.New - x.Old),
            PagesReturned = c.PagesReturned + all.Where(x => x.New < x.Old).Sum(x => x.Old - x.New),
            PagesReclaimed = c.PagesReclaimed + reclaimed,
            ShortfallSteps = c.ShortfallSteps + (plan.ShortfallPages > 0 ? 1 : 0),
        };
    }

    /// <summary>The decision of step <paramref name="step"/> (without its changes) from what it saw and planned.</summary>
    public static BalloonDecision Decision(long step, long rss, long budget, BalloonPlan plan) => new()
    {
        Step = step,
        RssBytes = rss,
        BudgetBytes = budget,
        HeadroomPages = plan.HeadroomPages,
        ExposurePages = plan.ExposurePages,
        DeficitPages = plan.DeficitPages,
        WantedPages = plan.WantedPages,
        GrantedPages = plan.GrantedPages,
        ReclaimPages = plan.ReclaimPages,
        ReleasedPages = plan.ReleasedPages,
        ShortfallPages = plan.ShortfallPages,
    };

    /// <summary>
    /// Logs a step: its target changes, and the start and the end of a shortfall (not every short step).
    /// Returns whether this step was short, for the next call's <paramref name="wasShort"/>.
    /// </summary>
    public static bool Log<TChange>(ILogger log, string controller, BalloonDecision d, IReadOnlyCollection<TChange> changes, bool wasShort)
    {
        if (changes.Count > 0)
            log.LogInformation("{Controller} step {Step}: host use {Rss} MiB of {Budget} MiB, headroom {Headroom}, deficit {Deficit}, wanted {Wanted} pages: {Changes}",
                controller, d.Step, d.RssBytes >> 20, d.BudgetBytes >> 20, d.HeadroomPages, d.DeficitPages, d.WantedPages, string.Join(", ", changes));
        bool isShort = d.ShortfallPages > 0;
        if (isShort && !wasShort)
            log.LogWarning("{Controller} step {Step}: the guests need {Shortfall} more pages than the others can give; growing guests wait", controller, d.Step, d.ShortfallPages);
        else if (!isShort && wasShort)
            log.LogInformation("{Controller} step {Step}: the shortfall is over", controller, d.Step);
        return isShort;
    }

    /// <summary>A controller's background loop body: one step; a typed or I/O failure is logged and the next period tries again.</summary>
    public static bool StepOrLog(Func<BalloonDecision> step, ILogger log, string controller)
    {
        try
        {
            step();
        }
        catch (Exception e) when (e is GmmException or IOException)
        {
            log.LogWarning(e, "{Controller} step failed; trying again next period", controller);
        }
        return false;
    }
}
