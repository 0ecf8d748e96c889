using GuestMemory.Gmm;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Gmm;

/// <summary>An entirely free chunk goes back to the host unless it is one of the configured spare empty chunks.</summary>
public sealed class SpareChunkTests
{
    [Fact]
    public void Without_spares_a_chunk_goes_back_to_the_host_when_its_last_page_is_freed()
    {
        using PageManager gmm = TestGmm.Create(spareChunks: 0);
        VmHandle vm = gmm.AddVm();
        PageId[] pages = gmm.Allocate(vm, 10);
        Assert.Equal(1, gmm.Host.CommittedChunks);

        gmm.Free(vm, pages[..9]);
        Assert.Equal(1, gmm.GetStatistics().Chunks);

        gmm.Free(vm, pages[9]);

        GmmStatistics s = gmm.GetStatistics();
        Assert.Equal(0, s.Chunks);
        Assert.Equal(1, s.FreedChunks);
        Assert.Equal(0, gmm.Host.CommittedChunks);
        GmmAssert.Fails(GmmError.PageNotFound, () => gmm.GetPageState(pages[0]));
        gmm.Verify();
    }

    [Fact]
    public void Up_to_the_configured_number_of_empty_chunks_stay_committed_as_spares()
    {
        using PageManager gmm = TestGmm.Create(spareChunks: 2);
        VmHandle vm = gmm.AddVm();
        PageId[] pages = gmm.Allocate(vm, 3 * Paging.PagesPerChunk);

        gmm.Free(vm, pages);

        GmmStatistics s = gmm.GetStatistics();
        Assert.Equal(2, s.SpareChunks);
        Assert.Equal(2, s.Chunks);
        Assert.Equal(1, s.FreedChunks);
        Assert.Equal(2 * Paging.PagesPerChunk, s.FreePages);
        Assert.Equal(2, gmm.Host.CommittedChunks);
        gmm.Verify();
    }

    [Fact]
    public void Release_spare_chunks_gives_all_but_the_kept_ones_back()
    {
        using PageManager gmm = TestGmm.Create(spareChunks: 3);
        VmHandle vm = gmm.AddVm();
        gmm.Free(vm, gmm.Allocate(vm, 3 * Paging.PagesPerChunk));

        Assert.Equal(2, gmm.ReleaseSpareChunks(keep: 1));

        GmmStatistics s = gmm.GetStatistics();
        Assert.Equal(1, s.SpareChunks);
        Assert.Equal(2, s.FreedChunks);
        Assert.Equal(1, gmm.Host.CommittedChunks);
        Assert.Equal(1, gmm.ReleaseSpareChunks());
        Assert.Equal(0, gmm.Host.CommittedChunks);
        gmm.Verify();
    }

    [Fact]
    public void Pages_of_a_recycled_spare_are_not_known_zero_but_read_zero_when_asked_for()
    {
        using PageManager gmm = TestGmm.Create(spareChunks: 1);
        VmHandle a = gmm.AddVm(), b = gmm.AddVm();
        PageId[] pagesA = gmm.Allocate(a, Paging.PagesPerChunk);
        foreach (PageId page in pagesA) gmm.Host.PageSpan(page).Fill(0xA5);
        gmm.Free(a, pagesA);

        PageDescriptor[] dirty = gmm.AllocateDescriptors(b, 8, zero: false);
        PageDescriptor[] zeroed = gmm.AllocateDescriptors(b, 8, zero: true);

        Assert.All(dirty, d => Assert.False(d.Zeroed));
        Assert.All(zeroed, d =>
        {
            Assert.True(d.Zeroed);
            Assert.Equal(-1, gmm.Host.PageSpan(d.Page).IndexOfAnyExcept((byte)0));
        });
        gmm.Verify();
    }

    [Fact]
    public void A_chunk_given_back_and_committed_again_is_known_zero()
    {
        using PageManager gmm = TestGmm.Create(spareChunks: 0);
        VmHandle vm = gmm.AddVm();
        PageId[] pages = gmm.Allocate(vm, Paging.PagesPerChunk);
        foreach (PageId page in pages) gmm.Host.PageSpan(page).Fill(0x5A);
        gmm.Free(vm, pages);

        PageDescriptor[] again = gmm.AllocateDescriptors(vm, Paging.PagesPerChunk, zero: false);

        Assert.Equal(pages[0].ChunkId, again[0].Page.ChunkId);
        Assert.All(again, d =>
        {
            Assert.True(d.Zeroed);
            Assert.Equal(-1, gmm.Host.PageSpan(d.Page).IndexOfAnyExcept((byte)0));
        });
        gmm.Verify();
    }
}
