using System.Net;
using System.Net.Sockets;
using GuestMemory.Qemu.Tests.Support;

namespace GuestMemory.Qemu.Tests.RealGuests;

/// <summary>
/// A real Linux guest's migration stream, broken off inside a section of every kind: a real QEMU migrates the
/// guest (after some work in it) to a TCP catcher that keeps the bytes; the store's listener then gets them over
/// TCP cut inside the first section of each kind (the header and configuration, the ram section's setup, a part,
/// its end, a device, the description after EOF) one byte in, in the middle and one byte short of its end, with
/// the connection closed there. Each is a typed error, the store keeps nothing, its folder gains no file, and
/// Verify is clean; the whole stream is stored.
/// </summary>
public sealed class BrokenStreamRealGuestTests
{
    private const long RamBytes = 128L << 20;
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(2);
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact(Timeout = 300_000)]
    public async Task A_real_stream_cut_inside_every_kind_of_section_leaves_nothing_in_the_store()
    {
        byte[] stream;
        await using (QemuGuest source = await RealGuestFixture.StartGuestAsync("broken-src", RamBytes))
        {
            await source.RequireShell().FillAsync("text", 4, FillKind.Text, "broken", cancel: Cancel);
            using var catcher = new TcpListener(IPAddress.Loopback, 0);
            catcher.Start();
            await source.Qmp.MigrateAsync($"tcp:127.0.0.1:{((IPEndPoint)catcher.LocalEndpoint).Port}", Cancel);
            using TcpClient qemu = await catcher.AcceptTcpClientAsync(Cancel);
            using var copy = new MemoryStream();
            await qemu.GetStream().CopyToAsync(copy, Cancel);
            stream = copy.ToArray();
            Assert.Equal("completed", (await source.Qmp.WaitForMigrationAsync(Long, Cancel)).Status);
        }

        IReadOnlyList<StreamSection> sections = StreamSection.Of(stream);
        using var host = new StoreTestHost();
        using QemuVmStore store = host.Open(folder: true);
        await using QemuStoreListener listener = QemuStoreListener.Start(store, IPAddress.Loopback, 0);
        foreach (string kind in new[] { "header", "ram-setup", "ram-part", "ram-end", "device", "end" })
        {
            StreamSection first = sections.First(x => x.Kind == kind);
            Assert.True(first.Length >= 2, $"the real stream's first {kind} section has bytes to cut between");
            // One byte in, the middle, and one byte short of its end. A stream that ends right after its EOF byte is
            // whole (machines with suppress-vmdesc send no description), so the end section is cut inside the description.
            int from = kind == "end" ? first.Start + 2 : first.Start + 1;
            foreach (int cut in new[] { from, first.Start + first.Length / 2, first.End - 1 }.Distinct()) await CutAsync(kind, cut);
        }

        async Task CutAsync(string kind, long cut)
        {
            await SendAsync(listener.Port, stream.AsMemory(0, (int)cut));
            StoreArrival arrival = await listener.NextAsync(Long, Cancel);
            if (arrival.Error == null) Assert.Fail($"{kind} cut at {cut} of {stream.Length} was stored");
            QemuException error = Assert.IsType<QemuException>(arrival.Error);
            Assert.True(error.Error is QemuError.StreamTruncated or QemuError.StreamCorrupt, $"{kind} cut at {cut} of {stream.Length}: {error.Error} {error.Message}");
            Assert.Empty(store.List());
            Assert.Equal(0, host.Gmm.Statistics.AllocatedPages);
            Assert.DoesNotContain(Directory.GetFiles(host.Folder), f => f.EndsWith(".gqp", StringComparison.Ordinal) || f.EndsWith(".gqvm", StringComparison.Ordinal));
            host.Gmm.Verify();
        }

        await SendAsync(listener.Port, stream);
        StoreArrival whole = await listener.NextAsync(Long, Cancel);
        Assert.Null(whole.Error);
        Assert.Single(store.List());
    }

    /// <summary>Connects to the listener, sends <paramref name="bytes"/> and closes the connection.</summary>
    private static async Task SendAsync(int port, ReadOnlyMemory<byte> bytes)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port, Cancel);
        NetworkStream connection = client.GetStream();
        try
        {
            await connection.WriteAsync(bytes, Cancel);
            client.Client.Shutdown(SocketShutdown.Send);
            byte[] sink = new byte[64];
            while (await connection.ReadAsync(sink, Cancel) > 0) { }
        }
        catch (IOException) { } // the store gave up and closed first
    }
}
