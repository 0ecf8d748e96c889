using GuestMemory.Gmm;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Gmm;

/// <summary>Allocating pages for an account: each page is private to the VM, its account and guest frame, and zero if asked.</summary>
public sealed class AllocatePagesTests
{
    [Theory]
    [InlineData(GmmAccount.Base)]
    [InlineData(GmmAccount.Shadow)]
    [InlineData(GmmAccount.Fixed)]
    public void Each_page_records_its_vm_account_and_guest_frame(GmmAccount account)
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm();
        PageDescriptor[] pages = TestGmm.Frames(firstFrame: 0x100, count: 16);

        gmm.AllocatePages(vm, account, pages, zero: true);

        Assert.Equal(16, pages.Select(d => d.Page).Distinct().Count());
        for (int i = 0; i < pages.Length; i++)
        {
            Assert.Equal(HostPageState.Private, gmm.GetPageState(pages[i].Page));
            Assert.Equal((vm, account, 0x100UL + (ulong)i), gmm.GetPrivatePageInfo(pages[i].Page));
        }
        Assert.Equal(16, gmm.GetVmStatistics(vm).Allocated[account]);
        Assert.Equal(16, gmm.GetVmStatistics(vm).PrivatePages);
        gmm.Verify();
    }

    [Fact]
    public void Pages_asked_for_zeroed_read_zero_even_when_another_vm_wrote_them_before()
    {
        using PageManager gmm = TestGmm.Create(spareChunks: 1);
        VmHandle a = gmm.AddVm(), b = gmm.AddVm();
        PageId[] pagesA = gmm.Allocate(a, 64);
        foreach (PageId page in pagesA) gmm.Host.PageSpan(page).Fill(0xEE);
        gmm.Free(a, pagesA);

        PageDescriptor[] pagesB = gmm.AllocateDescriptors(b, 64, zero: true);

        Assert.NotEmpty(pagesB.Select(d => d.Page).Intersect(pagesA));
        Assert.All(pagesB, d =>
        {
            Assert.True(d.Zeroed);
            Assert.Equal(-1, gmm.GetPage(d.Page).IndexOfAnyExcept((byte)0));
        });
        gmm.Verify();
    }

    [Fact]
    public void A_batch_spanning_several_chunks_is_allocated_whole()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm();

        PageId[] pages = gmm.Allocate(vm, 3 * Paging.PagesPerChunk + 7);

        Assert.Equal(pages.Length, pages.Distinct().Count());
        Assert.Equal(4, TestGmm.ChunksOf(pages).Length);
        Assert.Equal(pages.Length, gmm.GetStatistics().PrivatePages);
        gmm.Verify();
    }

    [Fact]
    public void An_empty_batch_is_an_invalid_argument()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm();

        GmmAssert.FailsUnchanged(gmm, GmmError.InvalidArgument, () => gmm.AllocatePages(vm, GmmAccount.Base, [], zero: true));
    }

    [Fact]
    public void An_unknown_account_is_an_invalid_argument()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm();
        PageId page = gmm.Allocate(vm, 1)[0];

        GmmAssert.FailsUnchanged(gmm, GmmError.InvalidArgument, () => gmm.AllocatePages(vm, (GmmAccount)3, new PageDescriptor[1], zero: true));
        GmmAssert.FailsUnchanged(gmm, GmmError.InvalidArgument, () => gmm.FreePages(vm, (GmmAccount)(-1), [page]), page);
    }

    [Fact]
    public void A_guest_frame_beyond_two_to_the_forty_is_an_invalid_argument()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm();
        PageDescriptor[] pages = TestGmm.Frames(firstFrame: 1, count: 4);
        pages[3].GuestFrame = 1UL << 40;

        GmmAssert.FailsUnchanged(gmm, GmmError.InvalidArgument, () => gmm.AllocatePages(vm, GmmAccount.Base, pages, zero: true));
    }
}
