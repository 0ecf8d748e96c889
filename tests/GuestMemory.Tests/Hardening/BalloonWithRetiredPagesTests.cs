using GuestMemory.Host;
using GuestMemory.Phys;
using GuestMemory.Tests.Phys;

namespace GuestMemory.Tests.Hardening;

/// <summary>
/// A balloon inflate the guest can make is accepted even while pages it retired earlier still wait for
/// readers: those pages back no guest page, so the base-account check counts them as gone. Before, they
/// counted as allocated, and a stress run saw 5 to 15 valid inflates a run refused ("would have 31
/// ballooned plus 2146 allocated pages, more than its 2176 base pages" for a 2,048-page VM).
/// </summary>
public sealed class BalloonWithRetiredPagesTests
{
    [Fact]
    public void An_inflate_that_fits_the_guest_is_accepted_while_retired_pages_wait_for_readers()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager(hostMib: 32);
        VirtualMachine vm = gmm.AddVm(ramPages: 2048);
        byte[] page = TestVms.Bytes(Paging.PageSize, 3);
        for (int i = 0; i < 2000; i++) vm.Memory.Write((ulong)i * Paging.PageSize, page);
        ulong[] backed = [.. Enumerable.Range(0, 1000).Select(i => (ulong)i * Paging.PageSize)];
        ulong[] zero = [.. Enumerable.Range(2000, 48).Select(i => (ulong)i * Paging.PageSize)];

        // This thread's own access section keeps the ballooned pages retired: a reader could still hold them.
        AccessEpoch.Section reader = AccessEpoch.Enter();
        try
        {
            vm.Memory.InflateBalloon(backed);
            Assert.True(gmm.Deferred.CountFor(vm.Handle) >= 1000, "the ballooned pages should still wait for the reader");

            vm.Memory.InflateBalloon(zero); // the guest has these 48 pages to give: 1,048 of 2,048 ballooned
        }
        finally
        {
            reader.Exit();
        }

        Assert.Equal(1048, vm.Accounts.BalloonedPages);
        gmm.ReclaimRetiredPages();
        gmm.Verify();
    }
}
