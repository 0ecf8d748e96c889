using GuestMemory.Migration;
using GuestMemory.Phys;
using GuestMemory.Tests.State;

namespace GuestMemory.Tests.Migration;

/// <summary>
/// What crosses the wire: pages the target already holds (in the VM's sharing domain) go as content
/// references and end up shared there; a content the moving VM holds twice goes once; zero and
/// ballooned pages cost a few bytes per run.
/// </summary>
public sealed class ContentReferenceTests
{
    private const int Known = 100, Unique = 50, RomPages = 4;
    private static readonly MoveOptions Options = MigrationHosts.SourceOptions;

    [Fact]
    public async Task PagesTheTargetHoldsCrossAsReferencesAndAreStoredOnceThere()
    {
        using var hosts = new MigrationHosts();
        VirtualMachine resident = hosts.Target.NewVm("resident");
        WritePages(resident, first: 0, Known, seed: 10_000);
        VirtualMachine vm = hosts.Source.NewVm("moving");
        WritePages(vm, first: 0, Known, seed: 10_000);
        WritePages(vm, first: Known, Unique, seed: 20_000);
        byte[] content = VmSnapshot.Content(vm);

        (MoveReport report, ReceivedVm received) = await Move(hosts, vm);

        Assert.True(report.ContentReferences);
        Assert.Equal(Known, report.Passes.Sum(p => p.ContentReferences));
        Assert.Equal(Unique + RomPages, report.Passes.Sum(p => p.PagesWithData));
        Assert.InRange(report.BytesSent, (Unique + RomPages) * Paging.PageSize, (Unique + RomPages + 4) * Paging.PageSize);
        Assert.Equal(content, VmSnapshot.Content(received.Vm));
        // The resident VM's private pages became shared pages that both VMs use.
        Assert.Equal(Known, received.Vm.Accounts.SharedPages);
        Assert.All(Enumerable.Range(0, Known), p => Assert.Equal(GuestPageState.Shared, resident.Memory.GetPage(GuestContent.Address(p)).State));
        Assert.Equal((Known, Known), (hosts.Target.Gmm.Statistics.SharedPages, hosts.Target.Gmm.Statistics.DuplicatePages));
        Assert.Equal(Known, received.Report.PrivatePagesShared);
        hosts.Verify();
    }

    [Fact]
    public async Task SharedPagesTheTargetHasAreReferencedWithoutMerging()
    {
        using var hosts = new MigrationHosts();
        VirtualMachine twin1 = hosts.Target.NewVm("twin-1"), twin2 = hosts.Target.NewVm("twin-2");
        WritePages(twin1, first: 0, Known, seed: 10_000);
        WritePages(twin2, first: 0, Known, seed: 10_000);
        hosts.Target.Gmm.Fusion.RunPass();
        hosts.Target.Gmm.Fusion.RunPass();
        Assert.Equal(Known, hosts.Target.Gmm.Statistics.SharedPages);
        VirtualMachine vm = hosts.Source.NewVm("moving");
        WritePages(vm, first: 0, Known, seed: 10_000);

        (MoveReport report, ReceivedVm received) = await Move(hosts, vm);

        Assert.Equal(Known, report.Passes.Sum(p => p.ContentReferences));
        Assert.Equal((Known, 2 * Known), (hosts.Target.Gmm.Statistics.SharedPages, hosts.Target.Gmm.Statistics.DuplicatePages));
        Assert.Equal(0, received.Report.PrivatePagesShared);
        hosts.Verify();
    }

    [Theory]
    [InlineData("other-tenant", true)]
    [InlineData("default", false)]
    public async Task ContentIsReferencedOnlyInsideTheSharingDomainOfVmsThatShare(string residentDomain, bool residentShares)
    {
        using var hosts = new MigrationHosts();
        VirtualMachine resident = hosts.Target.NewVm("resident", domain: residentDomain, sharing: residentShares);
        WritePages(resident, first: 0, Known, seed: 10_000);
        VirtualMachine vm = hosts.Source.NewVm("moving");
        WritePages(vm, first: 0, Known, seed: 10_000);

        (MoveReport report, ReceivedVm received) = await Move(hosts, vm);

        Assert.Equal(0, report.Passes.Sum(p => p.ContentReferences));
        Assert.Equal(Known + RomPages, report.Passes.Sum(p => p.PagesWithData));
        Assert.Equal(0, hosts.Target.Gmm.Statistics.SharedPages);
        Assert.Equal(0, received.Vm.Accounts.SharedPages);
        hosts.Verify();
    }

    [Fact]
    public async Task AContentTheMovingVmHoldsManyTimesCrossesOnce()
    {
        using var hosts = new MigrationHosts();
        VirtualMachine vm = hosts.Source.NewVm("moving");
        byte[] page = StateTestHost.Bytes(Paging.PageSize, seed: 77);
        for (int p = 0; p < 20; p++) vm.Memory.Write(GuestContent.Address(p), page); // twenty copies of one content
        GuestContent.WriteSharedCandidates(vm, contentSeed: 500);                    // and eight contents on two pages each
        hosts.Source.Gmm.Fusion.RunPass();
        hosts.Source.Gmm.Fusion.RunPass();                                           // page fusion shares them
        Assert.Equal(GuestPageState.Shared, vm.Memory.GetPage(0).State);
        vm.Memory.Write(GuestContent.Address(0) + 8, [1]);
        vm.Memory.Write(GuestContent.Address(0) + 8, [page[8]]);                     // and one copy is private again
        byte[] content = VmSnapshot.Content(vm);

        (MoveReport report, ReceivedVm received) = await Move(hosts, vm);

        Assert.Equal(1 + GuestContent.SharedContents + RomPages, report.Passes.Sum(p => p.PagesWithData));
        // The second page of each content names the first page's position; the target then holds it, so the rest are references.
        Assert.Equal(1 + GuestContent.SharedContents, report.Passes.Sum(p => p.Duplicates));
        Assert.Equal(18, report.Passes.Sum(p => p.ContentReferences));
        Assert.Equal(content, VmSnapshot.Content(received.Vm));
        // On the target each content is one shared page.
        Assert.Single(Enumerable.Range(0, 20).Select(p => received.Vm.Memory.GetPage(GuestContent.Address(p)).HostPage).Distinct());
        Assert.Equal(1 + GuestContent.SharedContents, hosts.Target.Gmm.Statistics.SharedPages);
        hosts.Verify();
    }

    [Fact]
    public async Task APageRewrittenWithTheSameBytesIsNotSentAgain()
    {
        using var hosts = new MigrationHosts();
        VirtualMachine vm = hosts.Source.NewVm("moving");
        WritePages(vm, first: 0, Unique, seed: 20_000);
        var rewrite = new ProgressCallback(p =>
        {
            if (p.Pass == 1) WritePages(vm, first: 0, 5, seed: 20_000); // dirty again, same bytes
        });
        Task<ReceivedVm> target = hosts.ReceiveOne();

        MoveReport report = vm.MoveTo(hosts.Connect(), () => { }, () => { }, Options with { MaxDowntime = TimeSpan.FromTicks(1) }, rewrite);
        await target;

        Assert.Equal(5, report.Passes[1].PagesTaken);
        Assert.Equal(0, report.Passes[1].PagesWithData);
        hosts.Verify();
    }

    [Fact]
    public async Task ZeroAndBalloonedPagesCostAFewBytesPerRun()
    {
        using var hosts = new MigrationHosts(sourceMib: 64, targetMib: 64);
        VirtualMachine vm = hosts.Source.NewVm("moving", ramPages: 8192);
        WritePages(vm, first: 4000, 10, seed: 30_000);
        for (int p = 5000; p < 5100; p++) vm.Memory.Write(GuestContent.Address(p), new byte[Paging.PageSize]); // private pages that read as zero
        vm.Memory.InflateBalloon(Enumerable.Range(6000, 1000).Select(GuestContent.Address).ToArray());

        (MoveReport report, ReceivedVm received) = await Move(hosts, vm);

        Assert.Equal(10 + RomPages, report.Passes.Sum(p => p.PagesWithData));
        Assert.InRange(report.BytesSent, (10 + RomPages) * Paging.PageSize, (10 + RomPages) * Paging.PageSize + 2048);
        Assert.Equal(1000, received.Vm.Accounts.BalloonedPages);
        Assert.Equal(8192 - 10 - 1000, VmSnapshot.Kinds(received.Vm).Count(k => k == '0'));
        hosts.Verify();
    }

    [Fact]
    public async Task AVmThatDoesNotSharePagesIsSentWithoutHashQueries()
    {
        using var hosts = new MigrationHosts();
        VirtualMachine resident = hosts.Target.NewVm("resident");
        WritePages(resident, first: 0, Known, seed: 10_000);
        VirtualMachine vm = hosts.Source.NewVm("moving", sharing: false);
        WritePages(vm, first: 0, Known, seed: 10_000);

        (MoveReport report, ReceivedVm received) = await Move(hosts, vm);

        Assert.False(report.ContentReferences);
        Assert.Equal(Known + RomPages, report.Passes.Sum(p => p.PagesWithData));
        Assert.False(received.Vm.Options.PageSharing);
        hosts.Verify();
    }

    private static async Task<(MoveReport, ReceivedVm)> Move(MigrationHosts hosts, VirtualMachine vm)
    {
        Task<ReceivedVm> target = hosts.ReceiveOne();
        MoveReport report = vm.MoveTo(hosts.Connect(), () => { }, () => { }, Options);
        return (report, await target);
    }

    private static void WritePages(VirtualMachine vm, int first, int count, int seed)
    {
        for (int p = 0; p < count; p++) vm.Memory.Write(GuestContent.Address(first + p), StateTestHost.Bytes(Paging.PageSize, seed + p));
    }
}
