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
