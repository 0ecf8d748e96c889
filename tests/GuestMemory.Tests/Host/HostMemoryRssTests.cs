using GuestMemory.Host;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Host;

/// <summary>
/// Committing a chunk really costs the process 2 MiB of RSS, and releasing it really gives it back. The
/// figure is the reservation's own resident bytes from /proc/self/smaps: the process total moves with
/// the runtime's heap too (it once fell by 12 MiB during the commit loop), which blurs a 64 MiB step.
/// </summary>
[Collection(RssCollection.Name)]
public sealed class HostMemoryRssTests
{
    private const int Chunks = 32; // 64 MiB

    [Fact]
    public void Committed_chunks_are_resident_and_released_chunks_are_not()
    {
        using var host = new HostMemory(Chunks);
        long expected = (long)Chunks * Paging.ChunkSize;

        long before = host.ResidentBytes();
        for (int id = 1; id <= Chunks; id++) host.Commit(id);
        long committed = host.ResidentBytes();
        for (int id = 1; id <= Chunks; id++) host.Release(id);
        long released = host.ResidentBytes();

        Assert.True(committed - before >= expected * 9 / 10, $"RSS rose by {(committed - before) >> 20} MiB, expected about {expected >> 20} MiB");
        Assert.True(committed - released >= expected * 9 / 10, $"RSS fell by {(committed - released) >> 20} MiB, expected about {expected >> 20} MiB");
    }
}
