using GuestMemory.Host;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Host;

/// <summary>Committing a chunk really costs the process 2 MiB of RSS, and releasing it really gives it back.</summary>
[Collection(RssCollection.Name)]
public sealed class HostMemoryRssTests
{
    private const int Chunks = 32; // 64 MiB

    [Fact]
    public void Committed_chunks_are_resident_and_released_chunks_are_not()
    {
        using var host = new HostMemory(Chunks);
        long expected = (long)Chunks * Paging.ChunkSize;

        long before = HostRss.ReadBytes();
        for (int id = 1; id <= Chunks; id++) host.Commit(id);
        long committed = HostRss.ReadBytes();
        for (int id = 1; id <= Chunks; id++) host.Release(id);
        long released = HostRss.ReadBytes();

        Assert.True(committed - before >= expected * 9 / 10, $"RSS rose by {(committed - before) >> 20} MiB, expected about {expected >> 20} MiB");
        Assert.True(committed - released >= expected * 9 / 10, $"RSS fell by {(committed - released) >> 20} MiB, expected about {expected >> 20} MiB");
    }
}
