using GuestMemory.Balloon;

namespace GuestMemory.Tests.Balloon;

/// <summary>
/// The controller's policy on plain figures: what guests may write without asking must fit the host;
/// memory comes from the VMs with the least claim (shares, idle tax), never below a minimum and never
/// from used pages; it goes back to guests that ask and, past the hysteresis, to all.
/// </summary>
public sealed class BalloonPlannerTests
{
    private const long Hysteresis = 256;
    private readonly BalloonPlanner _planner = new(idleTaxRate: 0.75);

    /// <summary>A VM's figures; <paramref name="wanted"/> pages beyond what the target leaves it make it need more.</summary>
    private static BalloonVmFigures Vm(long used, long target = 0, long? backed = null, double shares = 1, long wanted = 0,
        long ram = 1000, long minTarget = 0, long? maxTarget = null, long? ballooned = null, bool driver = true, long? needed = null) => new()
    {
        HasDriver = driver,
        RamPages = ram,
        Target = target,
        Ballooned = ballooned ?? target,
        Backed = backed ?? used,
        Used = used,
        Needed = needed ?? used + wanted,
        MinTarget = minTarget,
        MaxTarget = maxTarget ?? ram,
        Shares = shares,
    };

    [Fact]
    public void When_everything_the_guests_may_write_fits_nothing_changes()
    {
        BalloonVmFigures[] vms = [Vm(used: 100, target: 500), Vm(used: 100, target: 500)];

        BalloonPlan plan = _planner.Plan(headroom: 1000, Hysteresis, vms);

        Assert.Equal([500, 500], plan.Targets);
        Assert.Equal(800, plan.ExposurePages);
        Assert.Equal(-200, plan.DeficitPages);
        Assert.Equal(0, plan.ReleasedPages); // 200 to spare is inside the hysteresis
    }

    [Fact]
    public void Past_the_hysteresis_only_the_excess_goes_back_and_the_next_plan_holds_still()
    {
        BalloonVmFigures[] vms = [Vm(used: 100, target: 500), Vm(used: 100, target: 500, shares: 2)];

        BalloonPlan plan = _planner.Plan(headroom: 1100, Hysteresis, vms);

        Assert.Equal(1100 - 800 - Hysteresis, plan.ReleasedPages);
        Assert.Equal([500, 456], plan.Targets); // to the VM with the larger claim
        Assert.Equal(BalloonChangeReason.Released, plan.Reasons[1]);
        BalloonVmFigures[] after = [vms[0], vms[1] with { Target = 456, Ballooned = 456 }];
        Assert.Equal([500, 456], _planner.Plan(headroom: 1100, Hysteresis, after).Targets);
    }

    [Fact]
    public void A_deficit_is_reclaimed_from_the_vm_with_fewer_shares_first()
    {
        BalloonVmFigures[] vms = [Vm(used: 200, shares: 1), Vm(used: 200, shares: 4)];

        BalloonPlan plan = _planner.Plan(headroom: 1000, Hysteresis, vms);

        Assert.Equal(600, plan.DeficitPages);
        Assert.Equal([600, 0], plan.Targets);
        Assert.Equal(BalloonChangeReason.Reclaimed, plan.Reasons[0]);
        Assert.Equal(0, plan.ShortfallPages);
    }

    [Fact]
    public void Idle_memory_is_taxed_so_the_vm_sitting_on_free_pages_gives_first()
    {
        BalloonVmFigures[] vms = [Vm(used: 900), Vm(used: 100)];

        BalloonPlan plan = _planner.Plan(headroom: 900, Hysteresis, vms);

        Assert.Equal([0, BalloonPlanner.DefaultBatchPages], plan.Targets); // a deficit of 100 pages takes one 1 MiB batch
    }

    [Fact]
    public void With_equal_claims_a_large_deficit_is_shared()
    {
        BalloonVmFigures[] vms = [Vm(used: 100), Vm(used: 100)];

        BalloonPlan plan = _planner.Plan(headroom: 400, Hysteresis, vms);

        Assert.Equal(1400, plan.Targets.Sum());
        Assert.True(Math.Abs(plan.Targets[0] - plan.Targets[1]) <= BalloonPlanner.DefaultBatchPages);
    }

    [Fact]
    public void No_vm_is_taken_below_its_minimum_or_asked_for_pages_it_uses()
    {
        BalloonVmFigures[] vms = [Vm(used: 100, shares: 1, maxTarget: 300), Vm(used: 950, shares: 1), Vm(used: 100, shares: 100)];

        BalloonPlan plan = _planner.Plan(headroom: 1000, Hysteresis, vms);

        Assert.Equal(300, plan.Targets[0]);  // its minimum RAM is 700 pages
        Assert.Equal(50, plan.Targets[1]);   // it uses the rest
        Assert.Equal(plan.DeficitPages - 350, plan.Targets[2]);
    }

    [Fact]
    public void When_every_guest_uses_its_memory_the_shortfall_is_reported()
    {
        BalloonVmFigures[] vms = [Vm(used: 990), Vm(used: 990)];

        BalloonPlan plan = _planner.Plan(headroom: -100, Hysteresis, vms);

        Assert.Equal([10, 10], plan.Targets);
        Assert.Equal(plan.DeficitPages - 20, plan.ShortfallPages);
    }

    [Fact]
    public void A_vm_without_a_driver_counts_as_a_fixed_allocation()
    {
        BalloonVmFigures[] vms = [Vm(used: 0, driver: false), Vm(used: 100)];

        BalloonPlan plan = _planner.Plan(headroom: 1200, Hysteresis, vms);

        Assert.Equal([0, 700], plan.Targets); // the driverless VM may still write 1000 pages
    }

    [Fact]
    public void Pending_inflation_counts_as_headroom_to_come_so_a_slow_guest_is_not_asked_twice()
    {
        // The guest was asked for 300 pages and has not started: its 300 idle host-backed pages will go,
        // after which its 600 zero pages fit the 300 pages of headroom plus the 300 freed.
        BalloonVmFigures[] vms = [Vm(used: 100, target: 300, ballooned: 0, backed: 400)];

        BalloonPlan plan = _planner.Plan(headroom: 300, Hysteresis, vms);

        Assert.Equal(300, plan.Targets[0]);
        Assert.Equal(0, plan.DeficitPages);
    }

    [Fact]
    public void Wanted_pages_are_granted_from_what_the_host_can_back_now_highest_claim_first()
    {
        BalloonVmFigures[] vms = [Vm(used: 500, target: 500, wanted: 200, shares: 1), Vm(used: 500, target: 500, wanted: 200, shares: 4)];

        BalloonPlan plan = _planner.Plan(headroom: 300, Hysteresis, vms);

        Assert.Equal(300, plan.GrantedPages);
        Assert.Equal([400, 300], plan.Targets);
        Assert.Equal(100, plan.ShortfallPages); // nobody else can give the other 100
    }

    [Fact]
    public void Wants_beyond_the_headroom_are_reclaimed_from_others_and_granted_when_they_have_given()
    {
        BalloonVmFigures[] vms = [Vm(used: 500, target: 500, wanted: 200), Vm(used: 100, target: 0, backed: 1000)];

        BalloonPlan plan = _planner.Plan(headroom: 0, Hysteresis, vms);

        Assert.Equal([500, 256], plan.Targets);   // nothing to grant yet; the idle VM gives a batch for the 200
        Assert.Equal(BalloonChangeReason.Reclaimed, plan.Reasons[1]);
        BalloonVmFigures[] given = [vms[0], vms[1] with { Target = 256, Ballooned = 256, Backed = 744 }];
        BalloonPlan next = _planner.Plan(headroom: 256, Hysteresis, given);
        Assert.Equal([300, 256], next.Targets);
        Assert.Equal(BalloonChangeReason.Granted, next.Reasons[0]);
    }

    [Fact]
    public void Free_pages_a_growing_workload_is_about_to_use_are_not_idle()
    {
        // Both use 400 pages and have 600 free; the first is growing into 500 of them.
        BalloonVmFigures[] vms = [Vm(used: 400, needed: 900), Vm(used: 400)];

        Assert.Equal([0, 256], _planner.Plan(headroom: 1000, Hysteresis, vms).Targets);  // the other has more idle memory
        Assert.Equal([100, 600], _planner.Plan(headroom: 500, Hysteresis, vms).Targets); // the grower spares only 100
    }

    [Fact]
    public void A_guest_is_short_of_what_the_target_leaves_it_even_before_the_balloon_gets_there()
    {
        // The balloon is to take 200 pages; the guest has 300 free now but needs 200 of them.
        BalloonVmFigures[] vms = [Vm(used: 700, needed: 900, target: 200, ballooned: 0, backed: 700)];

        BalloonPlan plan = _planner.Plan(headroom: 10_000, Hysteresis, vms);

        Assert.Equal(100, plan.WantedPages);
        Assert.Equal(0, plan.ReclaimPages);
        Assert.Equal(100, plan.Targets[0]); // granted what it lacks; the rest waits for a step in which nobody asks
    }

    [Fact]
    public void A_deficit_of_a_few_pages_takes_a_whole_batch_and_the_next_few_take_nothing()
    {
        BalloonVmFigures[] vms = [Vm(used: 100, target: 500)];

        BalloonPlan plan = _planner.Plan(headroom: 390, Hysteresis, vms);
        BalloonPlan next = _planner.Plan(headroom: 380, Hysteresis, [vms[0] with { Target = plan.Targets[0], Ballooned = plan.Targets[0] }]);

        Assert.Equal(500 + BalloonPlanner.DefaultBatchPages, plan.Targets[0]);
        Assert.Equal(0, plan.ShortfallPages);
        Assert.Equal(500 + BalloonPlanner.DefaultBatchPages, next.Targets[0]);
    }

    [Fact]
    public void A_target_outside_the_limits_or_beyond_what_the_guest_can_give_is_corrected()
    {
        BalloonVmFigures[] vms = [Vm(used: 100, target: 0, minTarget: 200, ballooned: 0), Vm(used: 800, target: 400, ballooned: 200)];

        BalloonPlan plan = _planner.Plan(headroom: 900, Hysteresis, vms);

        Assert.Equal(200, plan.Targets[0]);
        Assert.Equal(BalloonChangeReason.Limits, plan.Reasons[0]);
        Assert.Equal(200, plan.Targets[1]);
        Assert.Equal(BalloonChangeReason.Withdrawn, plan.Reasons[1]);
    }
}
