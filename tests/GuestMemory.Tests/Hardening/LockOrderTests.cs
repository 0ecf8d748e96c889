using GuestMemory.Host;
using GuestMemory.Phys;
using GuestMemory.Tests.Phys;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Hardening;

/// <summary>
/// The lock order VM -> deferred frees -> Gmm holds, also on the paths where an exception leaves the Gmm:
/// a guest write refused at the host limit once ran an exception filter that took the deferred-frees lock
/// while the Gmm's lock was still held (filters run before the thrower's <c>finally</c>), and deadlocked
/// against a reclaim that holds the deferred-frees lock and calls the Gmm. The debug build's lock-order
/// check (<see cref="LockOrder"/>) names such a path on its first run.
/// </summary>
public sealed class LockOrderTests
{
    [Fact]
    public void A_write_refused_at_the_host_limit_takes_no_lock_while_the_Gmm_holds_its_own()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager(hostMib: 4);
        VirtualMachine a = gmm.AddVm(ramPages: 2048, "a");
        int before = LockOrderGuard.UnintendedCount();

        GmmException refused = FillUntilRefused(a);

        Assert.Equal(GmmError.HitGlobalLimit, refused.Error);
        Assert.Equal(before, LockOrderGuard.UnintendedCount());
        gmm.Verify();
    }

    [Fact]
    public void Taking_locks_against_the_order_is_reported()
    {
        var gmmLock = new RankedLock(LockRank.Gmm);
        var deferredLock = new RankedLock(LockRank.DeferredFrees);
        int before = LockOrder.Violations.Count;

        using (gmmLock.EnterScope())
            Assert.Throws<LockOrderViolationException>(() => { using (deferredLock.EnterScope()) { } });
        using (deferredLock.EnterScope())
        using (gmmLock.EnterScope())
        using (gmmLock.EnterScope()) { } // in order, and re-entering a held lock, is fine

        Assert.Equal(before + 1, LockOrder.Violations.Count);
        Assert.False(deferredLock.IsHeldByCurrentThread);
        Assert.False(gmmLock.IsHeldByCurrentThread);
    }

    [Fact]
    public void Writers_at_the_host_limit_and_reclaimers_run_without_a_hang()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager(hostMib: 8);
        VirtualMachine full = gmm.AddVm(ramPages: 4096, "full");
        VirtualMachine churn = gmm.AddVm(ramPages: 256, "churn");
        byte[] page = TestVms.Bytes(Paging.PageSize, 5);
        for (int i = 0; i < 128; i++) churn.Memory.Write((ulong)i * Paging.PageSize, page);
        FillUntilRefused(full);
        int before = LockOrderGuard.UnintendedCount();
        DateTime end = DateTime.UtcNow + TimeSpan.FromSeconds(2);
        long refusals = 0, resets = 0;

        Watchdog.Run(TimeSpan.FromSeconds(60),
            () =>
            {
                // Refused writes: each throws HitGlobalLimit out of the Gmm's lock.
                var random = new Random(1);
                while (DateTime.UtcNow < end)
                {
                    try { full.Memory.Write((ulong)random.Next(4096) * Paging.PageSize, page); }
                    catch (GmmException e) when (e.Error is GmmError.HitGlobalLimit or GmmError.HitVmAccountLimit) { Interlocked.Increment(ref refusals); }
                }
            },
            () =>
            {
                // Pages retired and reclaimed: the reclaim holds the deferred-frees lock while it calls the Gmm.
                while (DateTime.UtcNow < end)
                {
                    churn.Memory.Reset();
                    try { for (int i = 0; i < 64; i++) churn.Memory.Write((ulong)i * Paging.PageSize, page); }
                    catch (GmmException e) when (e.Error is GmmError.HitGlobalLimit) { } // the other writer took the freed pages
                    gmm.ReclaimRetiredPages();
                    resets++;
                }
            });

        Assert.True(refusals > 0 && resets > 0, $"{refusals} refusals, {resets} resets: the race was not exercised");
        Assert.Equal(before, LockOrderGuard.UnintendedCount());
        gmm.Verify();
    }

    private static GmmException FillUntilRefused(VirtualMachine vm)
    {
        byte[] page = TestVms.Bytes(Paging.PageSize, 9);
        long pages = vm.Options.RamSize / Paging.PageSize;
        for (long i = 0; i < pages; i++)
        {
            try { vm.Memory.Write((ulong)i * Paging.PageSize, page); }
            catch (GmmException e) { return e; }
        }
        throw new InvalidOperationException("the host never refused a page");
    }
}
