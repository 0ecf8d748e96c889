using GuestMemory.Gmm;

namespace GuestMemory.Tests.Support;

/// <summary>Assertions every Gmm test shares: typed failures that change nothing, and a clean consistency check.</summary>
internal static class GmmAssert
{
    /// <summary>
    /// Asserts that <paramref name="call"/> throws a <see cref="GmmException"/> with <paramref name="expected"/>,
    /// that every observable figure (and the state of <paramref name="watched"/> pages) is as before, and that
    /// <see cref="PageManager.Verify"/> is clean afterwards.
    /// </summary>
    public static GmmException FailsUnchanged(PageManager gmm, GmmError expected, Action call, params PageId[] watched)
    {
        GmmSnapshot before = GmmSnapshot.Take(gmm, watched);
        GmmException e = Fails(expected, call);
        GmmSnapshot.Take(gmm, watched).AssertSameAs(before);
        gmm.Verify();
        return e;
    }

    /// <summary>Asserts that <paramref name="call"/> throws a <see cref="GmmException"/> carrying <paramref name="expected"/>.</summary>
    public static GmmException Fails(GmmError expected, Action call)
    {
        GmmException e = Assert.Throws<GmmException>(call);
        Assert.Equal(expected, e.Error);
        return e;
    }
}
