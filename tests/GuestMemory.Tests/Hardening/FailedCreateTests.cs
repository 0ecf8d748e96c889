using System.Net;
using System.Net.Sockets;
using GuestMemory.Gmm;
using GuestMemory.Migration;
using GuestMemory.Phys;
using GuestMemory.State;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Hardening;

/// <summary>
/// A VM that cannot be created leaves the manager exactly as it was: no registration, no reservation.
/// Before, CreateVm registered with the Gmm first and never rolled back: RamSize 2^43 gave InvalidRange and
/// a HELLO for 2,147,483,600 pages an untyped OutOfMemoryException, each leaving a ghost VM holding its
/// reservation, after which large VMs were refused.
/// </summary>
public sealed class FailedCreateTests
{
    public static TheoryData<string, long, GmmError> Refusals => new()
    {
        { "huge", 1L << 43, GmmError.InvalidArgument },                     // more pages than one range holds
        { "beyond", 1L << 53, GmmError.InvalidArgument },                   // beyond the 2^52 guest-physical limit
        { "overcommitted", 1L << 40, GmmError.ReservationDeclined },        // 1 TiB on a 64 MiB host (ratio 4)
        { "bad\u001bname", 1L << 20, GmmError.InvalidArgument },            // control characters in the name
        { new string('n', VmOptions.MaxNameLength + 1), 1L << 20, GmmError.InvalidArgument },
        { "taken", 1L << 20, GmmError.VmNameInUse },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public void A_refused_create_leaves_the_manager_as_it_was(string name, long ramSize, GmmError expected)
    {
        using var gmm = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = 64L << 20 });
        gmm.CreateVm(new VmOptions { Name = "taken", RamSize = 1L << 20 });
        (GmmStatistics Statistics, IReadOnlyList<VmHandle> Handles, int Vms) before = (gmm.Statistics, gmm.Pages.GetVmHandles(), gmm.Vms.Count);

        GmmException e = Assert.Throws<GmmException>(() => gmm.CreateVm(new VmOptions { Name = name, RamSize = ramSize }));

        Assert.Equal(expected, e.Error);
        Assert.Equal(before.Statistics, gmm.Statistics);
        Assert.Equal(before.Handles, gmm.Pages.GetVmHandles());
        Assert.Equal(before.Vms, gmm.Vms.Count);
        VirtualMachine big = gmm.CreateVm(new VmOptions { Name = "big", RamSize = 200L << 20 }); // no ghost reservation in the way
        Assert.False(big.IsDestroyed);
        gmm.Verify();
    }

    [Fact]
    public async Task A_hello_for_more_pages_than_a_vm_can_have_is_refused_and_leaves_nothing()
    {
        using var gmm = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = 64L << 20 });
        using var endpoint = new MigrationEndpoint(IPAddress.Loopback, 0);
        GmmStatistics before = gmm.Statistics;
        long ram = 2_147_483_600L * Paging.PageSize;
        Task<GmmException> target = Task.Run(() =>
        {
            using NetworkStream connection = endpoint.Accept();
            return Assert.Throws<GmmException>(() => gmm.ReceiveVm(connection));
        });

        using (var peer = new MigrationConnection(MigrationEndpoint.Connect("127.0.0.1", endpoint.Port), TimeSpan.FromSeconds(30)))
        {
            var hello = new WireWriter();
            new Hello(MigrationMode.Move, new VmOptions { Name = "ghost", RamSize = ram },
                new StateLayout([new LayoutRange(0, (ulong)ram, GuestPageType.Ram, RomWriteMode.Ignore)]), 0, 0).WriteTo(hello);
            peer.Writer.Write(MessageType.Hello, hello.Written);
            Assert.Equal(GmmError.ReservationDeclined, Failure.Read(peer.Expect(MessageType.Refuse).Payload, "REFUSE").Error);
        }

        Assert.Equal(GmmError.MigrationRefused, (await target).Error);
        Assert.Equal(before, gmm.Statistics);
        Assert.Empty(gmm.Vms);
        gmm.CreateVm(new VmOptions { Name = "big", RamSize = 200L << 20 });
        gmm.Verify();
    }
}
