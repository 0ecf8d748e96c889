using System.Net;
using System.Net.Sockets;
using GuestMemory.Gmm;
using GuestMemory.Host;
using GuestMemory.Migration;
using GuestMemory.Phys;
using GuestMemory.State;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Hardening;

/// <summary>
/// What a hostile or broken migration peer can make a target do: hold a session by trickling bytes (a
/// frame must now arrive whole within the timeout; before, one byte a second kept a session open past its
/// 30 s timeout), make the target allocate memory with a 200-byte HELLO (page entries are committed
/// lazily; a HELLO claiming 255 GiB made the listener's RSS peak at 555 MiB), and the source's own
/// arguments (a port out of range, a one-way stream) are typed errors.
/// </summary>
[Collection(RssCollection.Name)]
public sealed class MigrationPeerAbuseTests
{
    [Fact]
    public void A_peer_that_trickles_a_frame_loses_its_session_at_the_frame_deadline()
    {
        using var gmm = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = 64L << 20 });
        using var endpoint = new MigrationEndpoint(IPAddress.Loopback, 0);
        byte[] hello = HelloFrame("trickle", 1L << 20);
        GmmException? failure = null;
        using var stop = new CancellationTokenSource();

        Watchdog.Run(TimeSpan.FromSeconds(20),
            () =>
            {
                using NetworkStream connection = endpoint.Accept();
                failure = Assert.Throws<GmmException>(() => gmm.ReceiveVm(connection, new IncomingOptions { Timeout = TimeSpan.FromSeconds(1) }));
                stop.Cancel();
            },
            () =>
            {
                // One byte every 150 ms: each read is quick, the frame would take about 25 s.
                using NetworkStream peer = MigrationEndpoint.Connect("127.0.0.1", endpoint.Port);
                try
                {
                    foreach (byte b in hello)
                    {
                        if (stop.Token.WaitHandle.WaitOne(150)) return;
                        peer.WriteByte(b);
                    }
                }
                catch (IOException) { } // the target closed on us: what the test is about
            });

        Assert.Equal(GmmError.MigrationConnectionLost, failure!.Error);
        Assert.Empty(gmm.Vms);
        gmm.Verify();
    }

    [Fact]
    public void A_hello_claiming_a_huge_vm_costs_the_target_address_space_not_memory()
    {
        const long claimed = 255L << 30;
        using var gmm = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = 64L << 30 }); // 4 x 64 GiB may be reserved
        using var endpoint = new MigrationEndpoint(IPAddress.Loopback, 0);
        long before = HostRss.ReadBytes(), accepted = 0;
        GmmException? failure = null;

        Watchdog.Run(TimeSpan.FromSeconds(60),
            () =>
            {
                using NetworkStream connection = endpoint.Accept();
                failure = Assert.Throws<GmmException>(() => gmm.ReceiveVm(connection));
            },
            () =>
            {
                using var peer = new MigrationConnection(MigrationEndpoint.Connect("127.0.0.1", endpoint.Port), TimeSpan.FromSeconds(30));
                peer.Stream.Write(HelloFrame("huge", claimed));
                peer.Expect(MessageType.Accept);
                accepted = HostRss.ReadBytes(); // the VM exists on the target now, with all its page entries
            });

        long grew = accepted - before;
        Assert.True(grew < 64L << 20, $"the target's RSS grew by {grew >> 20} MiB for a {claimed >> 30} GiB HELLO");
        Assert.Equal(GmmError.MigrationConnectionLost, failure!.Error); // the peer went away after ACCEPT
        Assert.Empty(gmm.Vms);
        gmm.Verify();
    }

    [Fact]
    public void A_move_to_a_bad_port_or_over_a_one_way_stream_is_a_typed_error()
    {
        using var gmm = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = 16L << 20 });
        VirtualMachine vm = gmm.CreateVm(new VmOptions { Name = "source", RamSize = 1L << 20 });

        foreach (int port in new[] { 0, -1, 70000 })
            Assert.Equal(GmmError.InvalidArgument, Assert.Throws<GmmException>(() => vm.MoveTo("127.0.0.1", port, () => { }, () => { })).Error);
        Assert.Equal(GmmError.InvalidArgument, Assert.Throws<GmmException>(() => vm.MoveTo(new MemoryStream([], writable: false), () => { }, () => { })).Error);
        Assert.Equal(GmmError.InvalidArgument, Assert.Throws<GmmException>(() => new MigrationEndpoint(IPAddress.Loopback, 70000)).Error);

        Assert.False(vm.IsDestroyed);
        gmm.Verify();
    }

    /// <summary>A well-formed HELLO frame (sequence 0) for a VM of <paramref name="ramBytes"/> of RAM and nothing else.</summary>
    private static byte[] HelloFrame(string name, long ramBytes)
    {
        var payload = new WireWriter();
        var options = new VmOptions { Name = name, RamSize = ramBytes };
        new Hello(MigrationMode.Move, options, new StateLayout([new LayoutRange(0, (ulong)ramBytes, GuestPageType.Ram, RomWriteMode.Ignore)]), 0, 0).WriteTo(payload);
        var frame = new MemoryStream();
        new FrameWriter(frame).Write(MessageType.Hello, payload.Written);
        return frame.ToArray();
    }
}
