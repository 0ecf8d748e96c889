namespace GuestMemory.Balloon;

/// <summary>
/// Computes every VM's balloon target for one controller step from plain figures (no I/O, no locks), so
/// the policy can be tested exactly.
/// </summary>
/// <remarks>
/// <para><b>What it keeps true.</b> Every page a guest may write without asking must be one the host can
/// back: the guests' <i>exposure</i> (visible RAM pages with no host page yet: zero pages, and pages a
/// pending deflate will hand back) must fit the <i>headroom</i> (pages the budget and the Gmm can still
/// give). Guest writes move exposure and headroom together, so only the controller, the runtime's own
/// memory and chunk commits move their difference: RSS cannot run past the budget behind the
/// controller's back. Pending inflates count as headroom to come (the guest gives idle host-backed pages
/// first), so a slow guest is not asked twice.</para>
/// <para><b>Who gives.</b> ESX's idle memory tax: a VM's claim per page is ρ = shares / (needed + k · idle)
/// with k = 1 / (1 - tax rate), needed = the pages its workload uses or is growing into, and idle = the
/// other visible pages. Memory is taken from the VM with the lowest ρ, one 1 MiB batch at a time (ρ rises
/// as it gives), never past its minimum RAM and never from pages its workload needs. Which free pages a
/// guest gives does not matter to the outcome: a page with a host page frees memory, one without lowers
/// exposure, and once the deficit is reclaimed the headroom equals the exposure, which is never
/// negative, so RSS is back under the line either way. Memory is given, to guests that asked and (when
/// pressure has ended) to all, highest ρ first. A guest asks when the target leaves it fewer visible
/// pages than it needs (needed - (RAM - target)); counted against the target rather than the pages it
/// holds now, what it asks for and what it could give are never both positive, even while a batch is
/// on its way, so the controller does not take pages one step and give them back the next.</para>
/// <para><b>Hysteresis.</b> A reclaim takes at least one batch (VirtualBox's 1 MiB balloon chunk), so the
/// few pages a chunk commit or the runtime adds do not cause a decision each; unrequested release happens
/// only while the host has more than the hysteresis to spare; between the two the targets stay.</para>
/// </remarks>
internal sealed class BalloonPlanner(double idleTaxRate, long batchPages = BalloonPlanner.DefaultBatchPages)
{
    /// <summary>1 MiB, the batch of VirtualBox's balloon requests.</summary>
    public const long DefaultBatchPages = 256;

    private readonly double _idleCost = 1 / (1 - idleTaxRate);

    /// <summary>Plans one step: <paramref name="headroom"/> pages the host can still give (negative when over), targets for <paramref name="vms"/>.</summary>
    public BalloonPlan Plan(long headroom, long hysteresis, BalloonVmFigures[] vms)
    {
        var plan = new BalloonPlan(vms.Length) { HeadroomPages = headroom };
        var wants = new long[vms.Length];
        long slack = Assess(vms, plan, wants);
        bool[] asked = Array.ConvertAll(wants, w => w > 0);
        plan.GrantedPages = Move(vms, plan, Math.Min(plan.WantedPages, Math.Max(0, slack)), wants, give: true, BalloonChangeReason.Granted);
        Reclaim(vms, plan, asked, Math.Max(0, plan.DeficitPages + plan.WantedPages));
        long spare = Math.Min(-plan.DeficitPages, slack) - hysteresis;
        if (plan.WantedPages == 0 && spare > 0) Release(vms, plan, spare);
        return plan;
    }

    /// <summary>
    /// Brings each target inside its bounds and works out exposure now and to come, the deficit and what
    /// each guest lacks (<paramref name="wants"/>). Returns the slack: pages the host can back right now.
    /// </summary>
    private static long Assess(BalloonVmFigures[] vms, BalloonPlan plan, long[] wants)
    {
        long[] t = plan.Targets;
        long freedLater = 0, exposureLater = 0, exposureNow = 0;
        for (int i = 0; i < vms.Length; i++)
        {
            ref readonly BalloonVmFigures v = ref vms[i];
            long zeroNow = Math.Max(0, v.RamPages - v.Ballooned - v.Backed);
            if (!v.HasDriver)
            {
                t[i] = v.Target;
                exposureLater += zeroNow;
                exposureNow += zeroNow;
                continue;
            }
            t[i] = Bound(v, ref plan.Reasons[i]);
            long backedLater = Math.Max(Math.Min(v.Used, v.Backed), v.Backed - Math.Max(0, t[i] - v.Ballooned));
            freedLater += v.Backed - backedLater;
            long zeroLater = Math.Max(0, v.RamPages - t[i] - backedLater);
            exposureLater += zeroLater;
            exposureNow += Math.Max(zeroNow, zeroLater);
            wants[i] = Math.Clamp(v.Needed - (v.RamPages - t[i]), 0, t[i] - v.MinTarget);
            plan.WantedPages += wants[i];
        }
        plan.ExposurePages = exposureNow;
        plan.DeficitPages = exposureLater - (plan.HeadroomPages + freedLater);
        return plan.HeadroomPages - exposureNow;
    }

    /// <summary>Takes <paramref name="needed"/> pages (at least a batch) from VMs that did not ask, lowest claim first, within what they do not need.</summary>
    private void Reclaim(BalloonVmFigures[] vms, BalloonPlan plan, bool[] asked, long needed)
    {
        if (needed == 0) return;
        var room = new long[vms.Length];
        for (int i = 0; i < vms.Length; i++)
        {
            ref readonly BalloonVmFigures v = ref vms[i];
            if (v.HasDriver && !asked[i]) room[i] = Math.Min(v.MaxTarget - plan.Targets[i], Math.Max(0, v.RamPages - plan.Targets[i] - v.Needed));
        }
        plan.ReclaimPages = Move(vms, plan, Math.Max(needed, batchPages), room, give: false, BalloonChangeReason.Reclaimed);
        plan.ShortfallPages = Math.Max(0, needed - plan.ReclaimPages);
    }

    /// <summary>Pressure has ended: gives <paramref name="spare"/> pages back, highest claim first, down to each VM's smallest balloon.</summary>
    private void Release(BalloonVmFigures[] vms, BalloonPlan plan, long spare)
    {
        var back = new long[vms.Length];
        for (int i = 0; i < vms.Length; i++) back[i] = vms[i].HasDriver ? plan.Targets[i] - vms[i].MinTarget : 0;
        plan.ReleasedPages = Move(vms, plan, spare, back, give: true, BalloonChangeReason.Released);
    }

    /// <summary>The current target inside the VM's limits and within what the guest can give (it never gives used pages).</summary>
    private static long Bound(in BalloonVmFigures v, ref BalloonChangeReason reason)
    {
        long t = Math.Clamp(v.Target, v.MinTarget, v.MaxTarget);
        if (t != v.Target) reason |= BalloonChangeReason.Limits;
        long reachable = Math.Max(0, v.RamPages - v.Used);
        if (t > reachable && t > v.MinTarget)
        {
            t = Math.Max(v.MinTarget, reachable);
            reason |= BalloonChangeReason.Withdrawn;
        }
        return t;
    }

    /// <summary>
    /// Moves <paramref name="amount"/> pages in batches: giving (deflating) to the highest ρ first, or
    /// taking (inflating) from the lowest ρ first, each VM within <paramref name="capacity"/>. Returns how many moved.
    /// </summary>
    private long Move(BalloonVmFigures[] vms, BalloonPlan plan, long amount, long[] capacity, bool give, BalloonChangeReason reason)
    {
        long moved = 0;
        while (moved < amount)
        {
            int best = -1;
            double bestRho = 0;
            for (int i = 0; i < vms.Length; i++)
            {
                if (capacity[i] <= 0) continue;
                double rho = Rho(vms[i], plan.Targets[i]);
                if (best < 0 || (give ? rho > bestRho : rho < bestRho)) (best, bestRho) = (i, rho);
            }
            if (best < 0) break;
            long x = Math.Min(batchPages, Math.Min(amount - moved, capacity[best]));
            capacity[best] -= x;
            plan.Targets[best] += give ? -x : x;
            plan.Reasons[best] |= reason;
            moved += x;
        }
        return moved;
    }

    /// <summary>The VM's claim per page with the idle tax: shares / (needed + k · idle visible pages).</summary>
    private double Rho(in BalloonVmFigures v, long target)
    {
        double cost = v.Needed + _idleCost * Math.Max(0, v.RamPages - target - v.Needed);
        return cost <= 0 ? double.PositiveInfinity : v.Shares / cost;
    }
}
