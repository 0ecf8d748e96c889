using GuestMemory.Gmm;

namespace GuestMemory.Tests.Gmm;

/// <summary>Each chunk keeps its free pages on a LIFO list threaded through the free state words, with a count.</summary>
public sealed class ChunkFreeListTests
{
    [Fact]
    public void A_fresh_chunk_hands_out_every_page_once_in_index_order_and_zeroed()
    {
        var chunk = new Chunk();
        chunk.Reset(id: 5, zeroed: true);

        var taken = new List<int>();
        while (chunk.FreeCount > 0)
        {
            taken.Add(chunk.PopFree(out bool zeroed));
            Assert.True(zeroed);
        }

        Assert.Equal(Enumerable.Range(0, Paging.PagesPerChunk), taken);
        Assert.Equal(PageWord.NilIndex, chunk.FreeHead);
    }

    [Fact]
    public void The_most_recently_freed_page_comes_back_first_with_its_zero_flag()
    {
        var chunk = new Chunk();
        chunk.Reset(id: 1, zeroed: true);
        for (int i = 0; i < 10; i++) chunk.PopFree(out _);

        chunk.PushFree(4, zeroed: false);
        chunk.PushFree(7, zeroed: true);

        Assert.Equal(Paging.PagesPerChunk - 8, chunk.FreeCount);
        Assert.Equal(7, chunk.PopFree(out bool zeroed7));
        Assert.True(zeroed7);
        Assert.Equal(4, chunk.PopFree(out bool zeroed4));
        Assert.False(zeroed4);
        Assert.Equal(10, chunk.PopFree(out _));
    }

    [Fact]
    public void Empty_means_every_page_free()
    {
        var chunk = new Chunk();
        chunk.Reset(id: 1, zeroed: true);
        Assert.True(chunk.IsEmpty);

        int index = chunk.PopFree(out _);
        Assert.False(chunk.IsEmpty);

        chunk.PushFree(index, zeroed: false);
        Assert.True(chunk.IsEmpty);
    }
}
