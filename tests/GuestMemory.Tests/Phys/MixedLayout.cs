using GuestMemory.Phys;

namespace GuestMemory.Tests.Phys;

/// <summary>
/// A VM whose ranges touch: RAM [0, 16 pages), shadow ROM [16, 18), MMIO [18, 19), RAM [19, 24), then a hole.
/// Accesses across all of them exercise every range and page boundary.
/// </summary>
internal sealed class MixedLayout : IDisposable
{
    public const ulong Page = TestVms.PageSize;
    public const ulong RomStart = 16 * Page, MmioStart = 18 * Page, HighRamStart = 19 * Page, End = 24 * Page;

    public MixedLayout()
    {
        Gmm = TestVms.CreateManager();
        Vm = Gmm.AddVm(ramPages: 16);
        RomImage = TestVms.Bytes((int)(2 * Page) - 100, seed: 16);
        Vm.Memory.RegisterRom(RomStart, RomImage, RomWriteMode.Shadow, "rom");
        Mmio = new RecordingMmio((int)Page, Vm.Memory);
        Vm.Memory.RegisterMmio(MmioStart, Page, Mmio, "mmio");
        Vm.Memory.RegisterRam(HighRamStart, End - HighRamStart, "high");
    }

    public GlobalMemoryManager Gmm { get; }
    public VirtualMachine Vm { get; }
    public GuestPhysicalMemory Memory => Vm.Memory;
    public RecordingMmio Mmio { get; }
    public byte[] RomImage { get; }

    /// <summary>What the whole address space [0, End) reads as right after setup.</summary>
    public byte[] InitialContent()
    {
        var bytes = new byte[End];
        RomImage.CopyTo(bytes, (int)RomStart);
        return bytes;
    }

    public void Dispose() => Gmm.Dispose();
}
