using GuestMemory.Gmm;
using GuestMemory.Host;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Host;

/// <summary>The sparse host range: chunk n at Base + n · 2 MiB, committed zero-filled, given back, and failing typed.</summary>
public sealed unsafe class HostMemoryTests
{
    [Fact]
    public void A_page_lives_at_its_chunks_address_plus_its_index_times_4_KiB()
    {
        using var host = new HostMemory(maxChunks: 8);

        Assert.Equal(0, (long)host.ChunkAddress(1) % Paging.ChunkSize);
        Assert.Equal((nint)host.ChunkAddress(3) + 17 * Paging.PageSize, (nint)host.PageAddress(PageId.From(3, 17)));
        Assert.Equal((nint)host.ChunkAddress(4) - Paging.PageSize, (nint)host.PageAddress(PageId.From(3, 511)));
    }

    [Fact]
    public void A_committed_chunk_reads_zero_and_reads_zero_again_after_release_and_commit()
    {
        using var host = new HostMemory(maxChunks: 4);
        host.Commit(2);
        var chunk = new Span<byte>(host.ChunkAddress(2), Paging.ChunkSize);
        Assert.Equal(-1, chunk.IndexOfAnyExcept((byte)0));
        chunk.Fill(0x77);

        host.Release(2);
        host.Commit(2);

        Assert.Equal(-1, chunk.IndexOfAnyExcept((byte)0));
        Assert.Equal(1, host.CommittedChunks);
        host.Release(2);
        Assert.Equal(0, host.CommittedChunks);
    }

    [Fact]
    public void The_last_chunk_id_is_usable()
    {
        using var host = new HostMemory(maxChunks: 3);
        host.Commit(3);

        host.PageSpan(PageId.From(3, 511)).Fill(1);

        host.Release(3);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    [InlineData(-1)]
    public void Chunk_ids_outside_the_range_are_not_found(int id)
    {
        using var host = new HostMemory(maxChunks: 4);

        GmmAssert.Fails(GmmError.ChunkNotFound, () => host.Commit(id));
        GmmAssert.Fails(GmmError.ChunkNotFound, () => host.Release(id));
        Assert.Equal(0, host.CommittedChunks);
    }

    [Fact]
    public void An_injected_refusal_fails_typed_and_commits_nothing()
    {
        using var host = new HostMemory(maxChunks: 4) { InjectCommitFailure = id => id == 2 };

        host.Commit(1);
        GmmAssert.Fails(GmmError.HostOutOfMemory, () => host.Commit(2));

        Assert.Equal(1, host.CommittedChunks);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-3)]
    [InlineData(PageId.MaxChunkId + 1)]
    public void A_range_of_no_chunks_or_more_than_page_ids_can_name_is_invalid(int maxChunks) =>
        GmmAssert.Fails(GmmError.InvalidArgument, () => new HostMemory(maxChunks).Dispose());
}
