using GuestMemory.Phys;

namespace GuestMemory.Tests.State;

/// <summary>A state restores only into a VM with the very same layout; any other is refused with the VM unchanged.</summary>
public sealed class LayoutMismatchTests
{
    public static TheoryData<string> Layouts => ["smaller-ram", "no-rom", "other-rom-mode", "extra-mmio", "moved-rom"];

    [Theory]
    [MemberData(nameof(Layouts))]
    public void ADifferentLayoutIsRefused(string layout)
    {
        using var host = new StateTestHost();
        (_, byte[] state) = host.SavedMixedVm("source", seed: 1);
        VirtualMachine target = Create(host, layout);
        target.Memory.Write(0, StateTestHost.Bytes(5000, seed: 3));
        VmSnapshot before = VmSnapshot.Take(host.Gmm, target);

        GmmException e = Assert.Throws<GmmException>(() => StateTestHost.Restore(target, state));

        Assert.Equal(GmmError.StateLayoutMismatch, e.Error);
        before.AssertUnchanged(VmSnapshot.Take(host.Gmm, target), exactHost: true);
        host.Gmm.Verify();
    }

    private static VirtualMachine Create(StateTestHost host, string layout)
    {
        if (layout == "extra-mmio")
        {
            VirtualMachine vm = host.NewVm("target");
            vm.Memory.RegisterMmio(0x3000_0000, Paging.PageSize, new RecordingMmio(), "extra");
            return vm;
        }
        VirtualMachine target = host.Gmm.CreateVm(StateTestHost.Options("target", ramPages: layout == "smaller-ram" ? StateTestHost.RamPages - 1 : StateTestHost.RamPages));
        if (layout == "no-rom") return target;
        ulong shadowAt = layout == "moved-rom" ? StateTestHost.ShadowRomAt + 0x10_0000 : StateTestHost.ShadowRomAt;
        target.Memory.RegisterRom(shadowAt, StateTestHost.Bytes(10_000, seed: 7), layout == "other-rom-mode" ? RomWriteMode.Ignore : RomWriteMode.Shadow, "bios");
        target.Memory.RegisterRom(StateTestHost.IgnoreRomAt, StateTestHost.Bytes(Paging.PageSize, seed: 8), RomWriteMode.Ignore, "option-rom");
        target.Memory.RegisterMmio(StateTestHost.MmioAt, 2 * Paging.PageSize, new RecordingMmio(), "mmio");
        return target;
    }

    private sealed class RecordingMmio : IMmioHandler
    {
        public void Read(ulong offset, Span<byte> destination) => destination.Clear();
        public void Write(ulong offset, ReadOnlySpan<byte> source) { }
    }
}
