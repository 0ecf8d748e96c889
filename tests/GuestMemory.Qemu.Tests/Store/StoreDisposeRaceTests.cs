using GuestMemory.Qemu.Tests.Support;
using GuestMemory.Tests.Support;

namespace GuestMemory.Qemu.Tests.Store;

/// <summary>
/// A store disposed while it writes a VM out (a resume on its way to a slow target): the writer ends, with
/// the whole stream (pages from the files) or ObjectDisposedException (a resident VM), never a hang or
/// another exception; the Gmm stays consistent and a store opened again on the folder writes the VM exactly.
/// </summary>
public sealed class StoreDisposeRaceTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Disposing_a_store_while_it_writes_a_VM_ends_the_writer_and_keeps_the_folder(bool resident)
    {
        byte[] recorded = PageFileTests.Guest(shift: 0); // 12 MiB of text pages: many writes to the slow stream
        using var host = new StoreTestHost();
        for (int round = 0; round < 6; round++)
        {
            QemuVmStore store = host.Open(folder: true, resident: resident);
            if (round == 0) store.Receive(new MemoryStream(recorded), "vm");
            Exception? ended = null;
            var started = new ManualResetEventSlim();
            Watchdog.Run(TimeSpan.FromSeconds(60),
                () =>
                {
                    try { store.WriteStream("vm", new SlowStream(started)); }
                    catch (ObjectDisposedException e) { ended = e; }
                },
                () =>
                {
                    started.Wait(TimeSpan.FromSeconds(30));
                    Thread.Sleep(round);
                    store.Dispose();
                });
            // Pages from the files need nothing the store's disposal takes; a resident VM goes with the store.
            if (!resident) Assert.Null(ended);
            host.Gmm.Verify();
        }
        using QemuVmStore reopened = host.Open();
        StoreRoundTripTests.AssertSameGuest(recorded, StoreRoundTripTests.Written(reopened, "vm"));
    }

    /// <summary>
    /// A listener disposed while connections arrive: its sessions see their connection closed at any moment (also
    /// before they touched it); each ends with a typed error or nothing, the dispose never throws or hangs, and
    /// nothing is kept (a NullReferenceException from the closed connection once escaped here).
    /// </summary>
    [Fact]
    public async Task Disposing_a_listener_while_connections_arrive_ends_each_with_a_typed_error()
    {
        using var host = new StoreTestHost();
        using QemuVmStore store = host.Open(folder: false);
        byte[] recorded = RecordedStream.Get();
        for (int round = 0; round < 40; round++)
        {
            QemuStoreListener listener = QemuStoreListener.Start(store, System.Net.IPAddress.Loopback, 0);
            var clients = new List<System.Net.Sockets.TcpClient>();
            try
            {
                for (int i = 0; i < 3; i++)
                {
                    var client = new System.Net.Sockets.TcpClient();
                    clients.Add(client);
                    await client.ConnectAsync(System.Net.IPAddress.Loopback, listener.Port, TestContext.Current.CancellationToken);
                    if (i == 1) _ = client.GetStream().WriteAsync(recorded.AsMemory(0, recorded.Length / 2), TestContext.Current.CancellationToken).AsTask().ContinueWith(_ => { }, TaskScheduler.Default);
                }
                if (round % 2 == 1) await Task.Delay(round % 7, TestContext.Current.CancellationToken);
                await listener.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
                while (true)
                {
                    StoreArrival arrival;
                    try { arrival = await listener.NextAsync(TimeSpan.FromMilliseconds(1), TestContext.Current.CancellationToken); }
                    catch (System.Threading.Channels.ChannelClosedException) { break; }
                    Assert.Equal(QemuError.StreamTruncated, Assert.IsType<QemuException>(arrival.Error).Error);
                }
            }
            finally
            {
                foreach (var c in clients) c.Dispose();
            }
            Assert.Empty(store.List());
            host.Gmm.Verify();
        }
    }

    /// <summary>A destination that takes its time (5 ms per write) and says when the first bytes came (a span write comes here too, through Stream).</summary>
    private sealed class SlowStream(ManualResetEventSlim started) : MemoryStream
    {
        public override void Write(byte[] buffer, int offset, int count)
        {
            started.Set();
            Thread.Sleep(5);
            base.Write(buffer, offset, count);
        }
    }
}
