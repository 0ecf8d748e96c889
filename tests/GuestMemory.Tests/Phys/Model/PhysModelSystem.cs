using System.Net;
using System.Net.Sockets;
using GuestMemory.Migration;
using GuestMemory.Phys;
using static GuestMemory.Tests.Phys.Model.ModelLayout;

namespace GuestMemory.Tests.Phys.Model;

/// <summary>
/// A fresh manager with several VMs and, beside it, the byte-exact reference model: the expected content of
/// every VM's mapped space and its ballooned pages. <see cref="Apply"/> runs one operation on both and throws
/// on the first difference (content, error code, or a failing access that changed something).
/// </summary>
internal sealed class PhysModelSystem : GuestMemory.Tests.Support.IModelTest<PhysOp>
{
    private readonly GlobalMemoryManager _gmm = TestVms.CreateManager(hostMib: 32);
    private GlobalMemoryManager? _otherHost; // created by the first move
    private readonly RecordingMmio[] _devices;
    private readonly VirtualMachine[] _vms;
    private readonly byte[][] _expected;
    private HashSet<int>[] _ballooned;
    private readonly SavedVm?[] _saved;

    /// <summary>A saved state and what the model expected of the VM when it was saved.</summary>
    private sealed record SavedVm(byte[] State, byte[] Expected, HashSet<int> Ballooned);

    public PhysModelSystem(int vmCount)
    {
        _vms = new VirtualMachine[vmCount];
        _expected = new byte[vmCount][];
        _ballooned = new HashSet<int>[vmCount];
        _saved = new SavedVm?[vmCount];
        _devices = new RecordingMmio[vmCount];
        for (int i = 0; i < vmCount; i++)
        {
            _vms[i] = _gmm.AddVm(RamPages, $"vm{i}");
            _devices[i] = Register(_vms[i].Memory, i);
            _expected[i] = new byte[MappedPages * PageSize];
            PowerOn(_expected[i], i, keepMmio: false);
            _ballooned[i] = [];
        }
    }

    public void Apply(PhysOp op)
    {
        switch (op)
        {
            case WriteOp w: Write(w.Vm, w.Address, TestVms.Bytes(w.Length, w.Seed)); break;
            case WriteUInt64Op w: Write(w.Vm, w.Address, BitConverter.GetBytes(w.Value), (m, a, _) => m.WriteUInt64(a, w.Value)); break;
            case FillPageOp f: Write(f.Vm, (ulong)f.Page * PageSize, Enumerable.Repeat(f.Pattern, PageSize).ToArray()); break;
            case ReadOp r: Read(r.Vm, r.Address, r.Length); break;
            case ReadUInt64Op r: ReadUInt64(r.Vm, r.Address); break;
            case MapWriteOp m: MapWrite(m); break;
            case MapReadOp m: MapRead(m.Vm, m.Page); break;
            case ResetOp r: Reset(r.Vm); break;
            case ArmOp a: PageRequests.ArmWriteMonitoring(Memory(a.Vm), Address(a.Page)); break;
            case MergeOp m: Merge(m); break;
            case BalloonOp b:
                if (KindOf(b.Page) == Kind.Ram && PageRequests.Balloon(Memory(b.Vm), Address(b.Page))) _ballooned[b.Vm].Add(b.Page);
                break;
            case ReclaimOp:
                foreach (GlobalMemoryManager host in Hosts) host.ReclaimRetiredPages();
                break;
            case MoveOp move: Move(move.Vm); break;
            case SaveOp save: Save(save.Vm); break;
            case RestoreOp restore: Restore(restore.Vm); break;
            case CorruptRestoreOp corrupt: CorruptRestore(corrupt); break;
            case VerifyOp: VerifyAll(); break;
            default: throw new ArgumentOutOfRangeException(nameof(op), op, "unknown operation");
        }
    }

    /// <summary>Compares every VM with the model and checks consistency.</summary>
    public void Check() => VerifyAll();

    /// <summary>Destroys every VM and checks that everything came back to the Gmm.</summary>
    public void Finish()
    {
        VerifyAll();
        foreach (GlobalMemoryManager host in Hosts) host.DestroyAllAndVerify();
    }

    public void Dispose()
    {
        _otherHost?.Dispose();
        _gmm.Dispose();
    }

    private IEnumerable<GlobalMemoryManager> Hosts => _otherHost == null ? [_gmm] : [_gmm, _otherHost];

    private GuestPhysicalMemory Memory(int vm) => _vms[vm].Memory;
    private static ulong Address(int page) => (ulong)page * PageSize;

    private void VerifyAll()
    {
        for (int vm = 0; vm < _vms.Length; vm++) AssertMatches(vm);
        foreach (GlobalMemoryManager host in Hosts) host.Verify();
    }

    private void AssertMatches(int vm)
    {
        byte[] actual = Memory(vm).ReadBytes(0, MappedPages * PageSize);
        int at = actual.AsSpan().CommonPrefixLength(_expected[vm]);
        if (at < actual.Length) Assert.Fail($"vm{vm} differs from the model at {at:x}: {actual[at]:x2}, expected {_expected[vm][at]:x2}");
    }

    /// <summary>The error an access to [address, +length) must fail with, or null; ballooned pages matter only to writes.</summary>
    private GmmError? ExpectedError(int vm, ulong address, int length, bool write)
    {
        if (length == 0) return null;
        if (address >= (ulong)MappedPages * PageSize || (ulong)length > (ulong)MappedPages * PageSize - address) return GmmError.AddressNotMapped;
        if (!write) return null;
        for (ulong page = address / PageSize; page <= (address + (ulong)length - 1) / PageSize; page++)
            if (_ballooned[vm].Contains((int)page)) return GmmError.PageBallooned;
        return null;
    }

    private void Write(int vm, ulong address, byte[] data, Action<GuestPhysicalMemory, ulong, byte[]>? write = null)
    {
        write ??= (m, a, d) => m.Write(a, d);
        if (Fails(vm, ExpectedError(vm, address, data.Length, write: true), () => write(Memory(vm), address, data))) return;
        for (int i = 0; i < data.Length; i++)
            if (KindOf((int)((address + (ulong)i) / PageSize)) != Kind.IgnoreRom) _expected[vm][address + (ulong)i] = data[i];
    }

    private void Read(int vm, ulong address, int length)
    {
        var buffer = new byte[length];
        if (Fails(vm, ExpectedError(vm, address, length, write: false), () => Memory(vm).Read(address, buffer))) return;
        Assert.Equal(_expected[vm].AsSpan((int)address, length).ToArray(), buffer);
    }

    private void ReadUInt64(int vm, ulong address)
    {
        ulong value = 0;
        if (Fails(vm, ExpectedError(vm, address, 8, write: false), () => value = Memory(vm).ReadUInt64(address))) return;
        Assert.Equal(BitConverter.ToUInt64(_expected[vm], (int)address), value);
    }

    private void MapWrite(MapWriteOp op)
    {
        byte[] data = TestVms.Bytes(op.Length, op.Seed);
        GmmError? error = KindOf(op.Page) switch
        {
            Kind.Hole => GmmError.AddressNotMapped,
            Kind.Mmio or Kind.IgnoreRom => GmmError.NotRam,
            _ when _ballooned[op.Vm].Contains(op.Page) => GmmError.PageBallooned,
            _ => null,
        };
        if (Fails(op.Vm, error, () => { using WriteMapping m = Memory(op.Vm).MapForWrite(Address(op.Page)); data.CopyTo(m.Span[op.Offset..]); })) return;
        data.CopyTo(_expected[op.Vm], op.Page * PageSize + op.Offset);
    }

    private void MapRead(int vm, int page)
    {
        GmmError? error = KindOf(page) switch { Kind.Hole => GmmError.AddressNotMapped, Kind.Mmio => GmmError.NotRam, _ => null };
        byte[] actual = [];
        if (Fails(vm, error, () => { using ReadMapping m = Memory(vm).MapForRead(Address(page)); actual = m.Span.ToArray(); })) return;
        Assert.Equal(_expected[vm].AsSpan(page * PageSize, PageSize).ToArray(), actual);
    }

    private void Reset(int vm)
    {
        Memory(vm).Reset();
        PowerOn(_expected[vm], vm, keepMmio: true);
        _ballooned[vm].Clear();
    }

    /// <summary>
    /// Moves the VM to the other host over a real loopback connection (nothing writes meanwhile: the model
    /// runs one operation at a time). Its MMIO device is recreated there with the same registers, as a device
    /// model would carry its own state; everything else must arrive through the migration stream.
    /// </summary>
    private void Move(int vm)
    {
        VirtualMachine source = _vms[vm];
        GlobalMemoryManager target = source.Manager == _gmm ? _otherHost ??= TestVms.CreateManager(hostMib: 32) : _gmm;
        using var endpoint = new MigrationEndpoint(IPAddress.Loopback, 0);
        RecordingMmio? device = null;
        Task<ReceivedVm> receiving = Task.Run(() =>
        {
            using NetworkStream connection = endpoint.Accept();
            return target.ReceiveVm(connection, new IncomingOptions
            {
                RegisterRanges = moved =>
                {
                    device = Register(moved.Memory, vm);
                    _devices[vm].Registers.CopyTo(device.Registers, 0);
                },
            });
        });
        source.MoveTo(IPAddress.Loopback.ToString(), endpoint.Port, () => { }, () => { });
        _vms[vm] = receiving.GetAwaiter().GetResult().Vm;
        _devices[vm] = device!;
        Assert.True(source.IsDestroyed);
    }

    private void Save(int vm)
    {
        using var stream = new MemoryStream();
        _vms[vm].SaveState(stream);
        _saved[vm] = new SavedVm(stream.ToArray(), (byte[])_expected[vm].Clone(), [.. _ballooned[vm]]);
    }

    private void Restore(int vm)
    {
        if (_saved[vm] is not { } saved) return;
        try
        {
            _vms[vm].RestoreState(new MemoryStream(saved.State, writable: false));
        }
        catch (GmmException e) when (e.Error is GmmError.HitGlobalLimit or GmmError.ReservationDeclined)
        {
            AssertMatches(vm); // refused up front: nothing changed
            return;
        }
        byte[] mmio = _expected[vm].AsSpan(MmioPage * PageSize, PageSize).ToArray(); // a device's state is not guest RAM: no state holds it
        saved.Expected.CopyTo(_expected[vm], 0);
        mmio.CopyTo(_expected[vm], MmioPage * PageSize);
        _ballooned[vm] = [.. saved.Ballooned];
    }

    private void CorruptRestore(CorruptRestoreOp op)
    {
        if (_saved[op.Vm] is not { } saved) return;
        byte[] corrupt = (byte[])saved.State.Clone();
        corrupt[op.Position % corrupt.Length] ^= op.Xor;
        Assert.Throws<GmmException>(() => _vms[op.Vm].RestoreState(new MemoryStream(corrupt, writable: false)));
        AssertMatches(op.Vm);
    }

    private void Merge(MergeOp op)
    {
        if (_vms[op.Vm].Manager != _vms[op.OtherVm].Manager) return; // pages are shared within one host only
        (GuestPhysicalMemory, ulong)[] pages = [(Memory(op.Vm), Address(op.Page)), (Memory(op.OtherVm), Address(op.OtherPage))];
        foreach ((GuestPhysicalMemory memory, ulong address) in pages) PageRequests.ArmWriteMonitoring(memory, address);
        PageRequests.Merge(_vms[op.Vm].Manager.Pages, pages);
    }

    /// <summary>
    /// Runs <paramref name="call"/>: with no error expected it must succeed (returns false); otherwise it must fail
    /// with that error and leave the VM's content as the model has it (returns true).
    /// </summary>
    private bool Fails(int vm, GmmError? expected, Action call)
    {
        if (expected == null)
        {
            call();
            return false;
        }
        TestVms.Fails(expected.Value, call);
        AssertMatches(vm);
        return true;
    }
}
