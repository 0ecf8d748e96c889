using GuestMemory.Gmm;

namespace GuestMemory.Tests.Gmm;

/// <summary>Free sets bin chunks by free page count (free >> 4; bin 32 for fully free) and find the fullest chunk with a free page.</summary>
public sealed class FreeSetTests
{
    [Theory]
    [InlineData(0, -1)]
    [InlineData(1, 0)]
    [InlineData(15, 0)]
    [InlineData(16, 1)]
    [InlineData(511, 31)]
    [InlineData(512, 32)]
    public void Bins_follow_the_free_count(int free, int bin) => Assert.Equal(bin, FreeSet.BinOf(free));

    [Fact]
    public void Fullest_is_the_chunk_with_the_fewest_but_some_free_pages()
    {
        var set = new FreeSet("test");
        Chunk roomy = ChunkWithFree(1, 300), tight = ChunkWithFree(2, 20), full = ChunkWithFree(3, 0);

        set.Add(roomy);
        set.Add(full);
        set.Add(tight);

        Assert.Same(tight, set.Fullest());
        Assert.Equal(3, set.Chunks);
        Assert.Equal(320, set.FreePages);
        Assert.Equal(-1, full.Bin);
        Assert.Equal([tight, roomy], set.ChunksWithFreePages());
    }

    [Fact]
    public void Update_moves_a_chunk_to_the_bin_of_its_new_free_count()
    {
        var set = new FreeSet("test");
        Chunk a = ChunkWithFree(1, 100), b = ChunkWithFree(2, 200);
        set.Add(a);
        set.Add(b);

        for (int i = 0; i < 190; i++) b.PopFree(out _);
        set.Update(b, -190);

        Assert.Same(b, set.Fullest());
        Assert.Equal(FreeSet.BinOf(10), b.Bin);
        Assert.Equal(110, set.FreePages);

        while (b.FreeCount > 0) b.PopFree(out _);
        set.Update(b, -10);

        Assert.Same(a, set.Fullest());
        Assert.Equal(-1, b.Bin);
        Assert.Equal(2, set.Chunks);
    }

    [Fact]
    public void Removing_the_last_chunk_leaves_an_empty_set()
    {
        var set = new FreeSet("test");
        Chunk chunk = ChunkWithFree(1, 50);
        set.Add(chunk);

        set.Remove(chunk);

        Assert.Null(set.Fullest());
        Assert.Null(chunk.Set);
        Assert.Equal(0, set.Chunks);
        Assert.Equal(0, set.FreePages);
    }

    private static Chunk ChunkWithFree(int id, int free)
    {
        var chunk = new Chunk();
        chunk.Reset(id, zeroed: true);
        while (chunk.FreeCount > free) chunk.PopFree(out _);
        return chunk;
    }
}
