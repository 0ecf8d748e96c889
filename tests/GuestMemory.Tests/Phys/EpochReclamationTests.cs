using GuestMemory.Gmm;
using GuestMemory.Host;
using GuestMemory.Phys;

namespace GuestMemory.Tests.Phys;

/// <summary>
/// A host page is reused only after every thread that may still hold a pointer to it has moved on: pages
/// retired from entries wait in <see cref="DeferredFrees"/> until every access section that began before ended.
/// </summary>
[Collection(GuestMemory.Tests.Support.AccessEpochCollection.Name)]
public sealed class EpochReclamationTests
{
    private const ulong Page = TestVms.PageSize;

    [Fact]
    public void A_page_retired_during_a_section_is_freed_only_after_the_section_exits()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        using VirtualMachine vm = gmm.AddVm();
        PageId page = AllocatedZeroPage(vm);
        using var reader = new SectionThread();

        RetireByZeroDetection(gmm, vm);
        Assert.Equal(0, gmm.Deferred.TryReclaim());
        Assert.Equal(HostPageState.Private, gmm.Pages.GetPageState(page));
        Assert.Equal(1, gmm.Deferred.CountFor(vm.Handle));
        gmm.Verify();

        reader.Exit();
        Assert.Equal(1, TryReclaimSoon(gmm));
        Assert.Equal(HostPageState.Free, gmm.Pages.GetPageState(page));
        gmm.Verify();
    }

    [Fact]
    public void ReclaimAll_waits_for_the_section_to_exit()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        using VirtualMachine vm = gmm.AddVm();
        PageId page = AllocatedZeroPage(vm);
        using var reader = new SectionThread();
        RetireByZeroDetection(gmm, vm);

        int reclaimed = -1;
        var reclaimer = new Thread(() => reclaimed = gmm.ReclaimRetiredPages());
        reclaimer.Start();
        Assert.False(reclaimer.Join(200)); // still waiting for the reader
        Assert.Equal(HostPageState.Private, gmm.Pages.GetPageState(page));

        reader.Exit();
        reclaimer.Join();
        Assert.Equal(1, reclaimed);
        Assert.Equal(HostPageState.Free, gmm.Pages.GetPageState(page));
        gmm.Verify();
    }

    [Fact]
    public void Sections_that_begin_in_a_later_epoch_do_not_hold_it_back()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        using VirtualMachine vm = gmm.AddVm();
        AllocatedZeroPage(vm);
        RetireByZeroDetection(gmm, vm);
        AccessEpoch.SafeBefore(); // a section in the retirement's own epoch may have seen the old entry; later ones cannot
        using var reader = new SectionThread();
        Assert.Equal(1, TryReclaimSoon(gmm));
        gmm.Verify();
    }

    [Fact]
    public void A_nested_section_keeps_the_outer_epoch_and_a_thread_inside_cannot_wait_for_readers()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        using VirtualMachine vm = gmm.AddVm();
        AllocatedZeroPage(vm);
        AccessEpoch.Section outer = AccessEpoch.Enter();
        try
        {
            RetireByZeroDetection(gmm, vm);
            AccessEpoch.Section inner = AccessEpoch.Enter();
            inner.Exit();
            Assert.True(AccessEpoch.IsInside);
            Assert.Equal(0, gmm.Deferred.TryReclaim());
            Assert.Throws<InvalidOperationException>(() => AccessEpoch.WaitForReaders(AccessEpoch.Current));
        }
        finally
        {
            outer.Exit();
        }
        Assert.False(AccessEpoch.IsInside);
        Assert.Equal(1, TryReclaimSoon(gmm));
        gmm.Verify();
    }

    /// <summary>
    /// TryReclaim until something is freed: the epoch is process-wide, so a section that another test's thread
    /// happens to be in may hold the page back for a moment (never for long: sections are one copy).
    /// </summary>
    private static int TryReclaimSoon(GlobalMemoryManager gmm)
    {
        int freed = 0;
        SpinWait.SpinUntil(() => (freed = gmm.Deferred.TryReclaim()) > 0, TimeSpan.FromSeconds(10));
        return freed;
    }

    /// <summary>Allocates page 0 with zeros in it, as a guest that zeroed its memory would.</summary>
    private static PageId AllocatedZeroPage(VirtualMachine vm)
    {
        vm.Memory.WriteUInt64(0, 0);
        return vm.Memory.GetPage(0).HostPage;
    }

    /// <summary>Fusion's zero detection: page 0 goes back to the zero page and its host page is retired.</summary>
    private static void RetireByZeroDetection(GlobalMemoryManager gmm, VirtualMachine vm)
    {
        ulong e = vm.Memory.Entry(0);
        Assert.True(PageRequests.Apply(vm.Memory, 0, e, GuestPage.Make(GuestPageType.Ram, GuestPageState.Zero, PageId.Nil), GuestPage.Page(e)));
        Assert.Equal(GuestPageState.Zero, vm.Memory.GetPage(0).State);
    }

    /// <summary>A thread that enters an access section at once and stays inside until told to exit.</summary>
    private sealed class SectionThread : IDisposable
    {
        private readonly ManualResetEventSlim _inside = new(), _exit = new();
        private readonly Thread _thread;

        public SectionThread()
        {
            _thread = new Thread(() =>
            {
                AccessEpoch.Section section = AccessEpoch.Enter();
                _inside.Set();
                _exit.Wait();
                section.Exit();
            });
            _thread.Start();
            _inside.Wait();
        }

        public void Exit()
        {
            _exit.Set();
            _thread.Join();
        }

        public void Dispose() => Exit();
    }
}
