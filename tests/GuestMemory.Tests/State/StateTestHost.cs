using GuestMemory.State;
using GuestMemory.Gmm;
using GuestMemory.Phys;

namespace GuestMemory.Tests.State;

/// <summary>
/// A manager and VMs of the layout every state test uses: RAM at 0, a shadow ROM, a ROM that ignores
/// writes, and an MMIO range (layout only). Small, so a test costs milliseconds and little memory.
/// </summary>
internal sealed class StateTestHost : IDisposable
{
    public const int RamPages = 512;
    public const ulong ShadowRomAt = 0x1000_0000, IgnoreRomAt = 0x1001_0000, MmioAt = 0x2000_0000;

    public StateTestHost(int hostMib = 32, double overcommitRatio = 4.0) =>
        Gmm = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = (long)hostMib << 20, SpareEmptyChunks = 0, OvercommitRatio = overcommitRatio });

    public GlobalMemoryManager Gmm { get; }

    public static VmOptions Options(string name, int ramPages = RamPages, string domain = "default", bool sharing = true) =>
        new() { Name = name, RamSize = (long)ramPages * Paging.PageSize, SharingDomain = domain, PageSharing = sharing };

    /// <summary>A VM with the standard layout.</summary>
    public VirtualMachine NewVm(string name, int ramPages = RamPages, string domain = "default", bool sharing = true)
    {
        VirtualMachine vm = Gmm.CreateVm(Options(name, ramPages, domain, sharing));
        RegisterDevices(vm);
        return vm;
    }

    /// <summary>A VM of the standard layout filled by <see cref="GuestContent.FillMixed"/>.</summary>
    public VirtualMachine MixedVm(string name, int seed)
    {
        VirtualMachine vm = NewVm(name);
        GuestContent.FillMixed(Gmm, vm, seed);
        return vm;
    }

    /// <summary>A <see cref="MixedVm"/> and its saved state.</summary>
    public (VirtualMachine Vm, byte[] State) SavedMixedVm(string name, int seed)
    {
        VirtualMachine vm = MixedVm(name, seed);
        return (vm, Save(vm));
    }

    /// <summary>The state of a standard VM with <paramref name="pages"/> pages of data, saved on a host of its own.</summary>
    public static byte[] StateWithDataPages(int pages)
    {
        using var source = new StateTestHost();
        VirtualMachine vm = source.NewVm("source");
        for (int p = 0; p < pages; p++) vm.Memory.Write(GuestContent.Address(p), Bytes(Paging.PageSize, p));
        byte[] state = Save(vm);
        source.Gmm.Verify();
        return state;
    }

    /// <summary>The ROM and MMIO ranges of the standard layout (ROM images fixed, so every VM gets the same).</summary>
    public static void RegisterDevices(VirtualMachine vm)
    {
        vm.Memory.RegisterRom(ShadowRomAt, Bytes(10_000, seed: 7), RomWriteMode.Shadow, "bios");
        vm.Memory.RegisterRom(IgnoreRomAt, Bytes(Paging.PageSize, seed: 8), RomWriteMode.Ignore, "option-rom");
        vm.Memory.RegisterMmio(MmioAt, 2 * Paging.PageSize, new NullMmio(), "mmio");
    }

    public static byte[] Bytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    public static byte[] Save(VirtualMachine vm)
    {
        using var stream = new MemoryStream();
        vm.SaveState(stream);
        return stream.ToArray();
    }

    /// <summary>Restores from a stream that cannot seek, as a pipe or a socket would deliver it.</summary>
    public static RestoreSummary Restore(VirtualMachine vm, byte[] state) => vm.RestoreState(new ForwardOnlyStream(state));

    public void Dispose() => Gmm.Dispose();

    private sealed class NullMmio : IMmioHandler
    {
        public void Read(ulong offset, Span<byte> destination) => destination.Fill(0xFF);
        public void Write(ulong offset, ReadOnlySpan<byte> source) { }
    }
}

/// <summary>A read-only stream over bytes that cannot seek or report its length.</summary>
internal sealed class ForwardOnlyStream(byte[] bytes) : Stream
{
    private int _position;
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
    public override int Read(Span<byte> buffer)
    {
        // Deliver at most 3000 bytes per call, so readers must cope with short reads.
        int n = Math.Min(Math.Min(buffer.Length, 3000), bytes.Length - _position);
        bytes.AsSpan(_position, n).CopyTo(buffer);
        _position += n;
        return n;
    }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
