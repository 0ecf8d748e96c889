using GuestMemory.Gmm;
using GuestMemory.Host;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Gmm;

/// <summary>Destroying a VM gives its memory back to the host for real: the process RSS falls.</summary>
[Collection(RssCollection.Name)]
public sealed class VmMemoryReturnTests
{
    private const int GuestMib = 256;

    [Fact]
    public void Destroying_a_vm_that_touched_256_MiB_returns_at_least_90_percent_of_it()
    {
        // No spare chunks: every chunk the VM emptied must go back to the host.
        using PageManager gmm = TestGmm.Create(hostMib: 2 * GuestMib, spareChunks: 0);
        int pages = GuestMib * (int)TestGmm.Mib / Paging.PageSize;
        VmHandle vm = gmm.AddVm(basePages: pages);
        foreach (PageId page in gmm.Allocate(vm, pages, zero: false)) gmm.Host.PageSpan(page).Fill(0xC3);
        long touched = HostRss.ReadBytes();

        gmm.DestroyVm(vm);
        long destroyed = HostRss.ReadBytes();

        long returned = touched - destroyed, expected = GuestMib * TestGmm.Mib;
        Assert.True(returned >= expected * 9 / 10, $"RSS fell by {returned >> 20} MiB of {GuestMib} MiB");
        Assert.Equal(0, gmm.Host.CommittedChunks);
        gmm.Verify();
    }
}
