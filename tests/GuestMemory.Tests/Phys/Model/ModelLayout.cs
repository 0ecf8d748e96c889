using GuestMemory.Phys;

namespace GuestMemory.Tests.Phys.Model;

/// <summary>
/// The guest-physical layout of every VM in the model test, in pages: RAM [0, 48) (the fast path's range),
/// shadow ROM [48, 50), MMIO [50, 51), RAM [51, 59), ignoring ROM [59, 60), then a hole up to the addresses
/// the generator still produces.
/// </summary>
internal static class ModelLayout
{
    public const int PageSize = TestVms.PageSize;
    public const int RamPages = 48, ShadowRomPage = 48, MmioPage = 50, HighRamPage = 51, IgnoreRomPage = 59, MappedPages = 60;
    public const int AddressablePages = 62; // the generator aims a little past the last range
    public const int ShadowRomLength = 2 * PageSize - 1000, IgnoreRomLength = 100;

    public enum Kind { Ram, ShadowRom, Mmio, IgnoreRom, Hole }

    public static Kind KindOf(int page) => page switch
    {
        < RamPages => Kind.Ram,
        < MmioPage => Kind.ShadowRom,
        < HighRamPage => Kind.Mmio,
        < IgnoreRomPage => Kind.Ram,
        < MappedPages => Kind.IgnoreRom,
        _ => Kind.Hole,
    };

    public static byte[] ShadowRomImage(int vm) => TestVms.Bytes(ShadowRomLength, 1000 + vm);
    public static byte[] IgnoreRomImage(int vm) => TestVms.Bytes(IgnoreRomLength, 2000 + vm);

    /// <summary>Registers the ranges after the VM's RAM at 0 and returns the MMIO device.</summary>
    public static RecordingMmio Register(GuestPhysicalMemory memory, int vm)
    {
        memory.RegisterRom(ShadowRomPage * (ulong)PageSize, ShadowRomImage(vm), RomWriteMode.Shadow, "shadow rom");
        var mmio = new RecordingMmio(PageSize);
        memory.RegisterMmio(MmioPage * (ulong)PageSize, PageSize, mmio, "mmio");
        memory.RegisterRam(HighRamPage * (ulong)PageSize, (IgnoreRomPage - HighRamPage) * (ulong)PageSize, "high ram");
        memory.RegisterRom(IgnoreRomPage * (ulong)PageSize, IgnoreRomImage(vm), RomWriteMode.Ignore, "ignoring rom");
        return mmio;
    }

    /// <summary>What the VM's mapped space reads as at power-on (and, but for MMIO, after a reset).</summary>
    public static void PowerOn(byte[] expected, int vm, bool keepMmio)
    {
        byte[] mmio = expected.AsSpan(MmioPage * PageSize, PageSize).ToArray();
        Array.Clear(expected);
        ShadowRomImage(vm).CopyTo(expected, ShadowRomPage * PageSize);
        IgnoreRomImage(vm).CopyTo(expected, IgnoreRomPage * PageSize);
        if (keepMmio) mmio.CopyTo(expected, MmioPage * PageSize);
    }
}
