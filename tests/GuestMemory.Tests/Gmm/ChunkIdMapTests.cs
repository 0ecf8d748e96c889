using GuestMemory.Gmm;

namespace GuestMemory.Tests.Gmm;

/// <summary>Chunk ids come from a bitmap, lowest free id first (id 0 is NIL), and a chunk is found by id in one table lookup.</summary>
public sealed class ChunkIdMapTests
{
    [Fact]
    public void Ids_are_handed_out_lowest_first_starting_at_one()
    {
        var map = new ChunkIdMap(maxChunks: 200);

        int[] ids = Enumerable.Range(0, 70).Select(_ => map.Reserve()).ToArray();

        Assert.Equal(Enumerable.Range(1, 70), ids);
        Assert.True(map.IsReserved(0));
    }

    [Fact]
    public void A_released_id_is_reused_before_higher_ones()
    {
        var map = new ChunkIdMap(maxChunks: 200);
        for (int i = 0; i < 130; i++) map.Reserve();

        map.Unreserve(3);
        map.Unreserve(100);

        Assert.Equal(3, map.Reserve());
        Assert.Equal(100, map.Reserve());
        Assert.Equal(131, map.Reserve());
    }

    [Fact]
    public void Reserve_returns_nil_when_every_id_is_taken()
    {
        var map = new ChunkIdMap(maxChunks: 65);
        for (int i = 1; i <= 65; i++) Assert.Equal(i, map.Reserve());

        Assert.Equal(0, map.Reserve());
    }

    [Fact]
    public void Published_chunks_are_found_by_id_and_removed_ones_are_gone()
    {
        var map = new ChunkIdMap(maxChunks: 8);
        var chunk = new Chunk();
        chunk.Reset(map.Reserve(), zeroed: true);
        map.Publish(chunk);

        Assert.Same(chunk, map[chunk.Id]);
        Assert.Equal(1, map.Count);
        Assert.Equal([chunk], map.All());

        map.Remove(chunk.Id);

        Assert.Null(map[chunk.Id]);
        Assert.Equal(0, map.Count);
        Assert.False(map.IsReserved(chunk.Id));
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(0)]
    [InlineData(9)]
    [InlineData(int.MaxValue)]
    public void Ids_outside_the_table_find_nothing(int id)
    {
        var map = new ChunkIdMap(maxChunks: 8);

        Assert.Null(map[id]);
    }
}
