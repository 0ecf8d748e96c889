using GuestMemory.Phys;
namespace GuestMemory.Qemu;

/// <summary>
/// The sink that turns a QEMU stream into a GuestMemory VM: the VM is created when the ram section lists
/// the blocks (block 0 at guest-physical 0 as the VM's RAM, each further block a RAM range of its own
/// right after the one before, named by its QEMU id), each page record is written into it (a later copy
/// replaces an earlier one; a zero record leaves a zero page alone and overwrites a written one), and the
/// configuration and device sections are kept as they came. <see cref="Abandon"/> destroys the VM, so a
/// stream that breaks off leaves nothing. One reader thread drives it.
/// </summary>
internal sealed class VmReceiver : IQemuStreamSink
{
    private static readonly byte[] ZeroPage = new byte[QemuStreamFormat.PageSize];
    private readonly GlobalMemoryManager _gmm;
    private readonly Func<RamSectionHeader, IReadOnlyList<RamBlock>, VmOptions> _options;
    private readonly List<DeviceSection> _devices = [];
    private readonly byte[] _fill = new byte[QemuStreamFormat.PageSize];
    private ulong[] _bases = [];
    private byte[] _configuration = [];
    private string _machine = "";
    private RamSectionHeader _ram;
    private IReadOnlyList<RamBlock> _blocks = [];

    /// <param name="gmm">The host the VM is made on.</param>
    /// <param name="options">The VM's options for the listed blocks (its name, sharing domain; <c>RamSize</c> is block 0's length).</param>
    public VmReceiver(GlobalMemoryManager gmm, Func<RamSectionHeader, IReadOnlyList<RamBlock>, VmOptions> options)
    {
        _gmm = gmm;
        _options = options;
    }

    /// <summary>The VM, once the ram section began.</summary>
    public VirtualMachine? Vm { get; private set; }

    /// <summary>The state, once the stream ended.</summary>
    public QemuVmState? State { get; private set; }

    /// <summary>Called by each page: the count of page records taken (for progress and reports).</summary>
    public long PageRecords { get; private set; }

    /// <summary>Raised (on the reader's thread) when the source stopped the guest: its END section began.</summary>
    public event Action? FinalPassBegan;

    /// <summary>
    /// Raised (on the reader's thread) once half of the pages of all blocks have arrived at least once: QEMU's
    /// first pass (its bulk stage, in address order) is half over. A live relay starts moving the VM on from
    /// here: the move's first pass walks the VM in the same order several times as fast as QEMU sends it, so it
    /// reaches the last pages about when they arrive (started at the bulk stage's end, the whole first pass fell
    /// in the guest's downtime, as QEMU stops an idle guest right after it).
    /// </summary>
    public event Action? HalfPagesSeen;

    /// <summary>Raised (on the reader's thread) once the ram section listed the blocks and the VM exists: <see cref="PartialState"/> is known.</summary>
    public event Action? BlocksListed;

    private System.Collections.BitArray? _seen;
    private long _unseen, _raiseAt;

    public void Configuration(ReadOnlySpan<byte> raw, string machine)
    {
        _configuration = raw.ToArray();
        _machine = machine;
    }

    public void RamSetup(RamSectionHeader header, IReadOnlyList<RamBlock> blocks)
    {
        _ram = header;
        _blocks = blocks;
        VmOptions options = _options(header, blocks) with { RamSize = blocks[0].Length };
        VirtualMachine vm = _gmm.CreateVm(options);
        Vm = vm;
        _bases = new ulong[blocks.Count];
        ulong address = 0;
        for (int i = 0; i < blocks.Count; i++)
        {
            _bases[i] = address;
            if (i > 0) vm.Memory.RegisterRam(address, (ulong)blocks[i].Length, blocks[i].Id);
            address += (ulong)blocks[i].Length;
        }
        // Only a relay asks when half the pages arrived; a plain receive keeps no bitmap. A relay of over 8 TiB
        // waits for the stream's end instead.
        _unseen = (long)(address / QemuStreamFormat.PageSize);
        _seen = HalfPagesSeen != null && _unseen <= int.MaxValue ? new System.Collections.BitArray((int)_unseen) : null;
        _raiseAt = _unseen / 2;
        BlocksListed?.Invoke();
    }

    /// <summary>Counts a page's first arrival; raises <see cref="HalfPagesSeen"/> when half are seen.</summary>
    private void Seen(ulong address)
    {
        if (_seen == null || _unseen == _raiseAt) return; // no relay, or half seen already
        int page = (int)(address / QemuStreamFormat.PageSize);
        if (_seen[page]) return;
        _seen[page] = true;
        if (--_unseen == _raiseAt) HalfPagesSeen?.Invoke();
    }

    public void RamSectionBegin(bool final)
    {
        if (final) FinalPassBegan?.Invoke();
    }

    public void Page(int block, long offset, ReadOnlySpan<byte> data)
    {
        if (!data.ContainsAnyExcept((byte)0))
        {
            FilledPage(block, offset, 0); // a zero page sent in full stays a zero page here
            return;
        }
        PageRecords++;
        Vm!.Memory.Write(_bases[block] + (ulong)offset, data);
        Seen(_bases[block] + (ulong)offset);
    }

    public void FilledPage(int block, long offset, byte fill)
    {
        PageRecords++;
        ulong address = _bases[block] + (ulong)offset;
        Seen(address);
        if (fill == 0)
        {
            if (Vm!.Memory.GetPage(address).State is GuestPageState.Zero) return;
            Vm.Memory.Write(address, ZeroPage);
            return;
        }
        _fill.AsSpan().Fill(fill);
        Vm!.Memory.Write(address, _fill);
    }

    public void RamSectionEnd() { }

    public void DeviceSection(ReadOnlySpan<byte> raw, string id, uint instance) => _devices.Add(new DeviceSection(id, instance, raw.ToArray()));

    /// <summary>The state known before the devices arrive (configuration, ram header, blocks), once the ram section began.</summary>
    public QemuVmState PartialState => new() { Machine = _machine, Configuration = _configuration, Ram = _ram, Blocks = _blocks, Devices = [], Description = [] };

    public void End(ReadOnlySpan<byte> description) =>
        State = new QemuVmState { Machine = _machine, Configuration = _configuration, Ram = _ram, Blocks = _blocks, Devices = _devices, Description = description.ToArray() };

    /// <summary>Destroys the VM made so far (a broken stream): its pages go back to the host.</summary>
    public void Abandon()
    {
        VirtualMachine? vm = Vm;
        Vm = null;
        if (vm != null && !vm.IsDestroyed) vm.Dispose();
    }
}
