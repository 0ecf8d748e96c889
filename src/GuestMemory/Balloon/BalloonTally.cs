namespace GuestMemory.Balloon;

/// <summary>
/// The counting both controllers share (<see cref="BalloonController"/> for VMs of the Gmm,
/// <see cref="GuestBalloonController"/> for guests outside it): one step added to the running totals, and
/// the decision record built from a plan. Pure functions, no state.
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
}
