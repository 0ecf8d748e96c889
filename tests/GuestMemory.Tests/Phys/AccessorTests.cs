using GuestMemory.Gmm;
using GuestMemory.Phys;

namespace GuestMemory.Tests.Phys;

/// <summary>
/// A vCPU's accessor does what the plain API does, fast path and slow path alike (zero pages, shared
/// pages, MMIO, accesses across a page boundary), and fails the same typed ways after a destroy.
/// </summary>
public sealed class AccessorTests
{
    private const ulong Page = TestVms.PageSize;

    [Fact]
    public void An_accessor_reads_and_writes_what_the_plain_api_sees()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        using VirtualMachine vm = gmm.AddVm(ramPages: 64);
        using VirtualMachine other = gmm.AddVm(ramPages: 64, name: "other");
        var mmio = new RecordingMmio((int)Page);
        vm.Memory.RegisterMmio(0x20_0000, Page, mmio, "mmio");
        byte[] shared = TestVms.Bytes((int)Page, 7);
        SharedPages.ShareOnePage(gmm, shared, (vm.Memory, 5 * Page), (other.Memory, 5 * Page));
        var page = new byte[Page];
        var span = new byte[16];

        using (GuestMemoryAccessor cpu = vm.Memory.OpenAccessor())
        {
            Assert.Equal(0UL, cpu.ReadUInt64(3 * Page + 8));               // zero page: nothing allocated
            Assert.Equal(GuestPageState.Zero, GuestPage.State(vm.Memory.Entry(3 * Page)));
            cpu.WriteUInt64(3 * Page + 8, 0x1122334455667788);             // first write allocates
            Assert.Equal(0x1122334455667788UL, cpu.ReadUInt64(3 * Page + 8));
            cpu.WriteUInt64(3 * Page + 16, 42);                             // now the fast path
            Assert.Equal(42UL, cpu.ReadUInt64(3 * Page + 16));

            cpu.Read(5 * Page, page);                                       // shared page
            Assert.Equal(shared, page);
            cpu.WriteUInt64(5 * Page, 1);                                   // copy-on-write
            Assert.Equal(GuestPageState.Allocated, GuestPage.State(vm.Memory.Entry(5 * Page)));

            cpu.Write(Page - 8, TestVms.Bytes(16, 9));                      // across a page boundary
            cpu.Read(Page - 8, span);
            Assert.Equal(TestVms.Bytes(16, 9), span);
            Assert.Equal(BitConverter.ToUInt64(TestVms.Bytes(16, 9), 4), cpu.ReadUInt64(Page - 4));

            cpu.WriteUInt64(0x20_0000, 0xABCD);                             // MMIO goes to its handler
            Assert.Equal(0xABCDUL, BitConverter.ToUInt64(mmio.Registers, 0));
            Assert.Equal(0xABCDUL, cpu.ReadUInt64(0x20_0000));
        }

        Assert.Equal(0x1122334455667788UL, vm.Memory.ReadUInt64(3 * Page + 8));
        Assert.Equal(1UL, vm.Memory.ReadUInt64(5 * Page));
        Assert.Equal(shared, other.Memory.ReadBytes(5 * Page, (int)Page));  // the other user keeps the old content
        Assert.Equal(TestVms.Bytes(16, 9), vm.Memory.ReadBytes(Page - 8, 16));
        gmm.Verify();
    }

    [Fact]
    public void An_accessor_opened_before_a_destroy_fails_with_VmDestroyed_and_one_disposed_is_refused()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        VirtualMachine vm = gmm.AddVm(ramPages: 64);
        vm.Memory.Write(0, TestVms.Bytes(4 * (int)Page, 1)); // allocated: the fast path would take these
        GuestMemoryAccessor cpu = vm.Memory.OpenAccessor();
        Assert.Equal(BitConverter.ToUInt64(TestVms.Bytes(8, 1)), cpu.ReadUInt64(0));

        vm.Dispose();

        Assert.Equal(GmmError.VmDestroyed, Assert.IsType<GmmException>(FailureOf(cpu, c => c.ReadUInt64(Page))).Error);
        Assert.Equal(GmmError.VmDestroyed, Assert.IsType<GmmException>(FailureOf(cpu, c => c.WriteUInt64(Page, 1))).Error);
        Assert.Equal(GmmError.VmDestroyed, Assert.IsType<GmmException>(FailureOf(cpu, c => c.Read(0, new byte[8]))).Error);
        Assert.Equal(GmmError.VmDestroyed, Assert.IsType<GmmException>(FailureOf(cpu, c => c.Write(0, new byte[8]))).Error);
        cpu.Dispose();
        cpu.Dispose(); // twice is fine
        Assert.IsType<ObjectDisposedException>(FailureOf(cpu, c => c.ReadUInt64(0)));
        TestVms.Fails(GmmError.VmDestroyed, () => { vm.Memory.OpenAccessor(); });
        gmm.Verify();
    }

    private delegate void AccessorCall(GuestMemoryAccessor cpu);

    /// <summary>What a call through the accessor throws, or null (a ref struct cannot go into a lambda's closure, only be passed in).</summary>
    private static Exception? FailureOf(GuestMemoryAccessor cpu, AccessorCall call)
    {
        try
        {
            call(cpu);
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    }
}
