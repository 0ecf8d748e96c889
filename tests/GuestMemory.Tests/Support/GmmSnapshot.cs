using GuestMemory.Gmm;

namespace GuestMemory.Tests.Support;

/// <summary>
/// Everything a caller can observe of a manager: global and per-VM statistics plus the states of some
/// pages. Taken before and after a failing call to prove that the failure changed nothing.
/// </summary>
internal sealed record GmmSnapshot(GmmStatistics Global, IReadOnlyList<GmmVmStatistics> Vms, IReadOnlyList<string> Pages)
{
    public static GmmSnapshot Take(PageManager gmm, IEnumerable<PageId>? pages = null) => new(
        gmm.GetStatistics(),
        gmm.GetVmHandles().Select(gmm.GetVmStatistics).ToArray(),
        (pages ?? []).Select(p => Describe(gmm, p)).ToArray());

    /// <summary>Asserts that nothing observable differs from <paramref name="other"/>.</summary>
    public void AssertSameAs(GmmSnapshot other)
    {
        Assert.Equal(other.Global, Global);
        Assert.Equal(other.Vms, Vms);
        Assert.Equal(other.Pages, Pages);
    }

    private static string Describe(PageManager gmm, PageId page)
    {
        try
        {
            return gmm.GetPageState(page) switch
            {
                HostPageState.Private => $"{page} private {gmm.GetPrivatePageInfo(page)}",
                HostPageState.Shared => $"{page} shared {gmm.GetSharedPageInfo(page)}",
                HostPageState state => $"{page} {state}",
            };
        }
        catch (GmmException e) when (e.Error == GmmError.PageNotFound)
        {
            return $"{page} not found";
        }
    }
}
