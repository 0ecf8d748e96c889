using GuestMemory.Gmm;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Gmm.Model;

/// <summary>Comparing the manager with the model: the cheap figures after every operation, everything in <see cref="Check"/>.</summary>
internal sealed partial class GmmModelTest
{
    public void Check()
    {
        _gmm.Verify();
        CompareFigures();
        foreach ((PageId page, ModelPage p) in _model.PrivatePages)
        {
            ModelVm vm = _model.Vms[p.Slot]!;
            Assert.Equal((vm.Handle, p.Account, p.GuestFrame), _gmm.GetPrivatePageInfo(page));
            PageContent.AssertHolds(_gmm.Host.PageSpan(page), p.Tag, vm.Fill, page);
        }
        foreach ((PageId page, ModelSharedPage s) in _model.SharedPages)
        {
            Assert.Equal((s.Checksum, (uint)s.References), _gmm.GetSharedPageInfo(page));
            PageContent.AssertHolds(_gmm.Host.PageSpan(page), s.Tag, SharedFill(s.Checksum), page);
        }
        // Every freed page of a chunk with live pages must be free; of the other chunks one page each tells
        // whether the chunk is still committed (a spare) or gone.
        foreach (IGrouping<bool, PageId> group in _model.FreedPages.Items.GroupBy(p => _model.IsChunkLive(p.ChunkId)))
            foreach (PageId page in group.Key ? group : group.DistinctBy(p => p.ChunkId))
                AssertFreeOrGone(page);
    }

    /// <summary>Global and per-VM statistics, the live handles, and chunk counts against the model.</summary>
    private void CompareFigures()
    {
        GmmStatistics s = _gmm.GetStatistics();
        ModelVm[] live = _model.Vms.Where(v => v != null).ToArray()!;
        long references = live.Sum(v => v.SharedReferenceCount);
        Assert.Equal(
            (_model.MaxPages, _model.ReservedPages, _model.AllocatedHostPages, (long)_model.PrivatePages.Count, (long)_model.SharedPages.Count,
                references - _model.SharedPages.Count, live.Sum(v => v.Ballooned), live.Length),
            (s.MaxPages, s.ReservedPages, s.AllocatedPages, s.PrivatePages, s.SharedPages, s.DuplicatePages, s.BalloonedPages, s.Vms));
        // Committed chunks are those holding live pages plus at most the configured spares, all empty.
        Assert.Equal(_model.LiveChunks.Count(), s.Chunks - s.SpareChunks);
        Assert.InRange(s.SpareChunks, 0, _model.SpareChunks);
        Assert.Equal((long)s.Chunks * Paging.PagesPerChunk - s.AllocatedPages, s.FreePages);
        Assert.Equal(live.Select(v => v.Handle).OrderBy(h => h.Value), _gmm.GetVmHandles().OrderBy(h => h.Value));
        for (int slot = 0; slot < _model.Vms.Length; slot++)
            if (_model.Vms[slot] is { } vm) Assert.Equal(vm.ExpectedStatistics(NameOf(slot)), _gmm.GetVmStatistics(vm.Handle));
    }

    /// <summary>A page the model holds free: free in a live chunk; in a chunk without live pages, free (a spare) or gone.</summary>
    private void AssertFreeOrGone(PageId page)
    {
        GmmError[] allowed = _model.ErrorsForStalePage(page, GmmError.PageAlreadyFree);
        try
        {
            HostPageState state = _gmm.GetPageState(page);
            Assert.True(allowed.Contains(GmmError.PageAlreadyFree) && state == HostPageState.Free, $"{page} should be free but is {state}");
        }
        catch (GmmException e) when (e.Error == GmmError.PageNotFound)
        {
            Assert.Contains(GmmError.PageNotFound, allowed);
        }
    }

    /// <summary>A table of how often each call ended how, and the chunk traffic, for the test log.</summary>
    public string DescribeOutcomes() => string.Join(Environment.NewLine,
        _outcomes.OrderBy(o => o.Key.Call).ThenBy(o => o.Key.Outcome).Select(o => $"{o.Key.Call,-20} {o.Key.Outcome,-24} {o.Value,8:N0}")
            .Append($"chunks given back to the host: {_gmm.GetStatistics().FreedChunks:N0}"));
}
