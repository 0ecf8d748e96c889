using GuestMemory.Gmm;
using GuestMemory.Host;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Host;

/// <summary>The resident bytes of a host's reservation, from the kernel's per-mapping count.</summary>
[Collection(RssCollection.Name)]
public sealed class HostRssRangeTests
{
    [Fact]
    public void A_committed_chunk_is_resident_in_the_reservation_and_a_released_one_is_not()
    {
        using var host = new HostMemory(maxChunks: 8);
        long empty = host.ResidentBytes();

        host.Commit(1);
        host.Commit(2);
        long committed = host.ResidentBytes();
        host.Release(1);
        host.Release(2);
        long released = host.ResidentBytes();

        Assert.InRange(committed - empty, 2 * Paging.ChunkSize - (64 << 10), 2 * Paging.ChunkSize + (64 << 10));
        Assert.InRange(released, 0, empty + (64 << 10));
    }

    [Fact]
    public void A_range_no_mapping_overlaps_has_nothing_resident() =>
        Assert.Equal(0, HostRss.ReadRangeBytes(unchecked((nint)0x1000), 0x1000)); // page 1 is never mapped
}
