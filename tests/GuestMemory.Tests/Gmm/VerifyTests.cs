using System.Reflection;
using GuestMemory.Gmm;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Gmm;

/// <summary><c>Verify()</c> recounts chunks, pages, free lists and accounts and names every mismatch it finds.</summary>
public sealed class VerifyTests
{
    [Fact]
    public void A_busy_but_consistent_manager_verifies_clean()
    {
        using PageManager gmm = BusyManager(out _, out _);

        Assert.Empty(gmm.FindInconsistencies());
        gmm.Verify();
    }

    [Fact]
    public void A_chunk_count_that_disagrees_with_its_page_words_is_reported()
    {
        using PageManager gmm = BusyManager(out _, out PageId page);
        ChunksOf(gmm)[page.ChunkId]!.FreeCount++;

        GmmException e = GmmAssert.Fails(GmmError.ConsistencyCheckFailed, gmm.Verify);
        Assert.Contains($"chunk {page.ChunkId} counts free/private/shared", e.Message);
    }

    [Fact]
    public void A_page_word_that_names_an_unknown_vm_is_reported()
    {
        using PageManager gmm = BusyManager(out _, out PageId page);
        ChunksOf(gmm)[page.ChunkId]!.Pages[page.Index] = PageWord.Private(999, GmmAccount.Base, 1);

        Assert.Contains(gmm.FindInconsistencies(), p => p.Contains("unknown vm:999"));
    }

    [Fact]
    public void A_broken_free_list_is_reported()
    {
        using PageManager gmm = BusyManager(out _, out PageId page);
        Chunk chunk = ChunksOf(gmm)[page.ChunkId]!;
        chunk.FreeHead = page.Index; // a private page at the head of the free list

        Assert.Contains(gmm.FindInconsistencies(), p => p.Contains($"chunk {page.ChunkId} free list is broken"));
    }

    [Fact]
    public void A_global_counter_that_disagrees_with_the_recount_is_reported()
    {
        using PageManager gmm = BusyManager(out _, out _);
        FieldInfo privatePages = typeof(PageManager).GetField("_privatePages", BindingFlags.NonPublic | BindingFlags.Instance)!;
        privatePages.SetValue(gmm, (long)privatePages.GetValue(gmm)! + 1);

        Assert.Contains(gmm.FindInconsistencies(), p => p.StartsWith("global private pages"));
    }

    [Fact]
    public void A_shared_reference_count_no_vm_accounts_for_is_reported()
    {
        using PageManager gmm = BusyManager(out PageId shared, out _);
        ulong word = ChunksOf(gmm)[shared.ChunkId]!.Pages[shared.Index];
        ChunksOf(gmm)[shared.ChunkId]!.Pages[shared.Index] = PageWord.Shared(PageWord.References(word) + 1, PageWord.Checksum(word));

        IReadOnlyList<string> problems = gmm.FindInconsistencies();

        Assert.Contains(problems, p => p.StartsWith("global shared references"));
        Assert.Contains(problems, p => p.Contains("references no VM accounts for"));
    }

    [Fact]
    public void Two_private_pages_backing_one_guest_frame_are_reported()
    {
        using PageManager gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm();
        gmm.AllocatePages(vm, GmmAccount.Base, TestGmm.Frames(0x42, 1), zero: true);
        gmm.AllocatePages(vm, GmmAccount.Base, TestGmm.Frames(0x42, 1), zero: true);

        Assert.Contains(gmm.FindInconsistencies(), p => p.Contains("guest frame 42 is backed by two private pages"));
    }

    /// <summary>Two VMs with private pages in every account, a shared page with references from both, a balloon.</summary>
    private static PageManager BusyManager(out PageId shared, out PageId privatePage)
    {
        PageManager gmm = TestGmm.Create(spareChunks: 1);
        VmHandle a = gmm.AddVm(), b = gmm.AddVm();
        PageId[] pages = gmm.Allocate(a, 700);
        gmm.Allocate(a, 3, GmmAccount.Fixed);
        gmm.Allocate(b, 5, GmmAccount.Shadow);
        gmm.Free(a, pages[100..200]);
        shared = gmm.AllocateSharedPage(a, checksum: 1);
        gmm.AddSharedReference(b, shared);
        gmm.BalloonedPages(b, 10, [], completed: false);
        privatePage = pages[0];
        return gmm;
    }

    /// <summary>The manager's chunk table, reached by reflection: tests corrupt it on purpose.</summary>
    private static ChunkIdMap ChunksOf(PageManager gmm) =>
        (ChunkIdMap)typeof(PageManager).GetField("_chunks", BindingFlags.NonPublic | BindingFlags.Instance)!.GetValue(gmm)!;
}
