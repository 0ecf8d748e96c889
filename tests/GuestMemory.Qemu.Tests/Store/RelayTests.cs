using System.Net;
using GuestMemory.Qemu.Tests.Support;

namespace GuestMemory.Qemu.Tests.Store;

/// <summary>
/// The live relay on a recorded real stream over loopback: a whole stream arrives at the second host as the
/// same guest, and nothing is kept on the relaying host; a stream cut anywhere (before QEMU's bulk stage ended,
/// during the relay's pre-copy, inside the device sections) leaves no VM on either host and both consistent.
/// </summary>
public sealed class RelayTests
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(1);
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_whole_stream_relayed_is_stored_at_the_second_host_as_the_same_guest()
    {
        byte[] stream = RecordedStream.Get();
        using var hostA = new StoreTestHost();
        using var hostB = new StoreTestHost();
        using QemuVmStore a = hostA.Open(folder: false);
        using QemuVmStore b = hostB.Open(folder: false);
        await using QemuStoreListener listener = QemuStoreListener.Start(b, IPAddress.Loopback, 0);
        RelayReport report = await a.RelayAsync(new MemoryStream(stream), "bios", "127.0.0.1", listener.Port, Cancel);
        StoreArrival arrival = await listener.NextAsync(Long, Cancel);
        Assert.Null(arrival.Error);
        Assert.Equal("stored", report.TargetOutcome);
        Assert.Equal(stream.Length, report.QemuBytes);
        Assert.Empty(a.List());
        Assert.Empty(hostA.Gmm.Vms);
        StoreRoundTripTests.AssertSameGuest(stream, StoreRoundTripTests.Written(b, "bios"));
    }

    [Theory]
    [InlineData(0.001)]
    [InlineData(0.3)]
    [InlineData(0.7)]
    [InlineData(0.95)]
    [InlineData(0.9999)]
    public async Task A_stream_cut_anywhere_leaves_nothing_on_either_host(double cutAt)
    {
        byte[] stream = RecordedStream.Get();
        byte[] cut = stream[..(int)(stream.Length * cutAt)];
        using var hostA = new StoreTestHost();
        using var hostB = new StoreTestHost();
        using QemuVmStore a = hostA.Open(folder: false);
        using QemuVmStore b = hostB.Open(folder: false);
        await using (QemuStoreListener listener = QemuStoreListener.Start(b, IPAddress.Loopback, 0))
        {
            Exception e = await Assert.ThrowsAnyAsync<Exception>(() => a.RelayAsync(new MemoryStream(cut), "bios", "127.0.0.1", listener.Port, Cancel));
            Assert.True(e is QemuException { Error: QemuError.StreamTruncated or QemuError.StreamCorrupt } or GmmException, $"a typed error, not {e}");
        }
        Assert.Empty(a.List());
        Assert.Empty(b.List());
        Assert.Empty(hostA.Gmm.Vms);
        Assert.Empty(hostB.Gmm.Vms);
    }
}
