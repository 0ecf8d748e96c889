using GuestMemory.Gmm;
using GuestMemory.Phys;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Fusion;

/// <summary>
/// A manager with VMs and a byte-exact reference model of their RAM: every write through this helper
/// goes to the guest and to the model, and <see cref="CheckContents"/> reads every page back.
/// Self-contained for the fusion tests (other layers keep their own helpers).
/// </summary>
internal sealed class FusionWorld : IDisposable
{
    private readonly GuestRamModel _model = new();
    private int _vmNumber;

    public FusionWorld(long hostMemory = 256L << 20) =>
        Gmm = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = hostMemory });

    public GlobalMemoryManager Gmm { get; }

    public IReadOnlyCollection<VirtualMachine> Vms => _model.Vms;

    public VirtualMachine AddVm(int pages, string domain = "default", bool sharing = true)
    {
        VirtualMachine vm = Gmm.CreateVm(new VmOptions
        {
            Name = $"vm-{_vmNumber++}", RamSize = (long)pages << Paging.PageShift, SharingDomain = domain, PageSharing = sharing,
        });
        _model.Add(vm, pages);
        return vm;
    }

    public void DestroyVm(VirtualMachine vm)
    {
        Gmm.DestroyVm(vm);
        _model.Remove(vm);
    }

    /// <summary>Writes a whole page (guest and model).</summary>
    public void Write(VirtualMachine vm, int page, byte[] content) => _model.Write(vm, page, content);

    /// <summary>Writes a few bytes inside a page (guest and model).</summary>
    public void WriteBytes(VirtualMachine vm, int page, int offset, ReadOnlySpan<byte> bytes)
    {
        vm.Memory.Write(Address(page) + (ulong)offset, bytes);
        _model.SetBytes(vm, page, offset, bytes);
    }

    /// <summary>Tells the model what a page holds after a write that bypassed this helper (a mapping).</summary>
    public void Expect(VirtualMachine vm, int page, byte[] content) => _model.Set(vm, page, content);

    public byte[] Expected(VirtualMachine vm, int page) => _model.Expected(vm, page);

    public byte[] Read(VirtualMachine vm, int page) => GuestRamModel.Read(vm, page);

    /// <summary>Reads every page of every VM and compares it with the model.</summary>
    public void CheckContents() => _model.CheckContents();

    /// <summary>Every byte as the model says, and the consistency check clean: the end of every scenario.</summary>
    public void CheckAll()
    {
        CheckContents();
        Verify();
    }

    /// <summary>The consistency check, failing with its list of mismatches.</summary>
    public void Verify() => Gmm.Verify();

    /// <summary>Runs passes until one changes nothing; returns the number of passes (including that one).</summary>
    public int RunUntilConverged(int maxPasses = 10)
    {
        for (int pass = 1; pass <= maxPasses; pass++)
            if (Gmm.Fusion.RunPass().Converged) return pass;
        throw new InvalidOperationException($"fusion did not converge in {maxPasses} passes");
    }

    public GuestPageInfo Info(VirtualMachine vm, int page) => vm.Memory.GetPage(Address(page));

    public GuestPageState State(VirtualMachine vm, int page) => Info(vm, page).State;

    public PageId HostPage(VirtualMachine vm, int page) => Info(vm, page).HostPage;

    public static ulong Address(int page) => (ulong)page << Paging.PageShift;

    public void Dispose() => Gmm.Dispose();
}
