using GuestMemory.Gmm;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Gmm;

/// <summary>The options a manager is created with: the host memory cap, spare chunks and the over-commit ratio.</summary>
public sealed class GmmOptionsTests
{
    public static TheoryData<GmmOptions> BadOptions => new()
    {
        new GmmOptions { HostMemoryLimit = Paging.ChunkSize - 1 },
        new GmmOptions { HostMemoryLimit = -1 },
        new GmmOptions { HostMemoryLimit = 64 * TestGmm.Mib, SpareEmptyChunks = -1 },
        new GmmOptions { HostMemoryLimit = 64 * TestGmm.Mib, OvercommitRatio = 0.99 },
        new GmmOptions { HostMemoryLimit = 64 * TestGmm.Mib, OvercommitRatio = double.NaN },
        new GmmOptions { HostMemoryLimit = 64 * TestGmm.Mib, OvercommitRatio = double.PositiveInfinity },
    };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void Out_of_range_options_are_invalid_arguments(GmmOptions options) =>
        GmmAssert.Fails(GmmError.InvalidArgument, () => new PageManager(options).Dispose());

    [Fact]
    public void The_host_memory_cap_is_rounded_down_to_whole_chunks()
    {
        using var gmm = new PageManager(new GmmOptions { HostMemoryLimit = 5 * TestGmm.Mib - 1 });

        Assert.Equal(2 * Paging.PagesPerChunk, gmm.MaxPages);
        Assert.Equal(2 * Paging.PagesPerChunk, gmm.GetStatistics().MaxPages);
        Assert.Equal(2, gmm.Host.MaxChunks);
        gmm.Verify();
    }

    [Fact]
    public void A_disposed_manager_refuses_further_calls()
    {
        var gmm = TestGmm.Create();
        VmHandle vm = gmm.AddVm();
        gmm.Dispose();

        Assert.Throws<ObjectDisposedException>(() => gmm.Allocate(vm, 1));
        Assert.Throws<ObjectDisposedException>(() => gmm.AddVm());
        gmm.Dispose(); // twice is harmless
    }
}
