using GuestMemory.Compaction;
using GuestMemory.Gmm;
using GuestMemory.Phys;
using GuestMemory.Tests.Fusion;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Compaction.Model;

/// <summary>
/// A manager with <see cref="CompactionOpGenerator.VmSlots"/> VMs driven side by side with a byte-exact
/// model of their RAM and balloons. Every read must agree with the model; <see cref="Check"/> reads every
/// page back and runs the consistency check. VMs compact at shutdown, so replacing one compacts too.
/// </summary>
internal sealed class CompactionModelSystem : IModelTest<CompactionOp>
{
    private readonly GlobalMemoryManager _gmm;
    private readonly GuestRamModel _model = new();
    private readonly VirtualMachine[] _vms = new VirtualMachine[CompactionOpGenerator.VmSlots];
    private readonly HashSet<int>[] _ballooned = new HashSet<int>[CompactionOpGenerator.VmSlots];
    private int _created;

    public CompactionModelSystem(bool returnFreedPagesAtOnce)
    {
        _gmm = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = 64L << 20, SpareEmptyChunks = 1, ReturnFreedPagesAtOnce = returnFreedPagesAtOnce });
        for (int slot = 0; slot < _vms.Length; slot++) Create(slot);
    }

    /// <summary>The compactor's totals over the run (for the test to see that pages really moved).</summary>
    public CompactionStatistics Compaction => _gmm.Compactor.Statistics;

    /// <summary>Pages fusion merged over the run.</summary>
    public long Merged => _gmm.Fusion.Statistics.PagesMerged;

    public void Apply(CompactionOp op)
    {
        switch (op)
        {
            case WriteOp o: Write(o); break;
            case FillOp o: Fill(o); break;
            case ReadOp o: AssertPage(o.Vm, o.Page); break;
            case BalloonOp o: Balloon(o); break;
            case DeflateOp o: Deflate(o); break;
            case ResetOp o: Reset(o.Vm); break;
            case RecreateOp o: Recreate(o.Vm); break;
            case FusionPassOp: _gmm.Fusion.RunPass(); break;
            case CompactOp o: _gmm.Compactor.Run(new CompactionOptions { SparseThreshold = o.Threshold }); break;
            case CompactWhileMappedOp o: CompactWhileMapped(o); break;
            default: throw new ArgumentOutOfRangeException(nameof(op), op, "unknown operation");
        }
    }

    public void Check()
    {
        _model.CheckContents();
        _gmm.Verify();
    }

    public void Dispose() => _gmm.Dispose();

    private void Create(int slot)
    {
        _vms[slot] = _gmm.CreateVm(new VmOptions { Name = $"vm-{_created++}", RamSize = (long)CompactionOpGenerator.PagesPerVm << Paging.PageShift });
        _model.Add(_vms[slot], CompactionOpGenerator.PagesPerVm);
        _ballooned[slot] = [];
    }

    private void Write(WriteOp o)
    {
        byte[] content = Content(o.Content);
        VirtualMachine vm = _vms[o.Vm];
        ReadOnlySpan<byte> bytes = o.Partial ? content.AsSpan(o.Offset, 64) : content;
        ulong address = GuestRamModel.Address(o.Page) + (ulong)(o.Partial ? o.Offset : 0);
        if (_ballooned[o.Vm].Contains(o.Page))
        {
            GmmAssert.Fails(GmmError.PageBallooned, () => vm.Memory.Write(address, o.Partial ? content.AsSpan(o.Offset, 64) : content));
            return;
        }
        vm.Memory.Write(address, bytes);
        if (o.Partial) _model.SetBytes(vm, o.Page, o.Offset, bytes);
        else _model.Set(vm, o.Page, bytes);
    }

    private void Fill(FillOp o)
    {
        for (int i = 0; i < o.Count; i++)
        {
            int content = o.Pooled ? (o.Content + i) % CompactionOpGenerator.PoolSize : CompactionOpGenerator.PoolSize + (o.Content << 10) + i;
            Write(new WriteOp(o.Vm, (o.Start + i) % CompactionOpGenerator.PagesPerVm, content, Partial: false, Offset: 0));
        }
    }

    private void AssertPage(int slot, int page)
    {
        VirtualMachine vm = _vms[slot];
        if (!GuestRamModel.Read(vm, page).AsSpan().SequenceEqual(_model.Expected(vm, page)))
            Assert.Fail($"{vm} page {page} ({vm.Memory.GetPage(GuestRamModel.Address(page)).State}) differs from the model");
    }

    private void Balloon(BalloonOp o)
    {
        int[] candidates = Enumerable.Range(0, CompactionOpGenerator.PagesPerVm).Where(p => !_ballooned[o.Vm].Contains(p)).ToArray();
        List<int> chosen = PickList<int>.Sample(candidates, new Random(o.Pick), o.Count);
        if (chosen.Count == 0) return;
        _vms[o.Vm].Memory.InflateBalloon(chosen.Select(GuestRamModel.Address).ToArray());
        foreach (int page in chosen)
        {
            _model.Clear(_vms[o.Vm], page);
            _ballooned[o.Vm].Add(page);
        }
    }

    private void Deflate(DeflateOp o)
    {
        List<int> chosen = PickList<int>.Sample(_ballooned[o.Vm].Order().ToArray(), new Random(o.Pick), o.Count);
        if (chosen.Count == 0) return;
        _vms[o.Vm].Memory.DeflateBalloon(chosen.Select(GuestRamModel.Address).ToArray());
        _ballooned[o.Vm].ExceptWith(chosen);
    }

    private void Reset(int slot)
    {
        _vms[slot].Memory.Reset();
        for (int p = 0; p < CompactionOpGenerator.PagesPerVm; p++) _model.Clear(_vms[slot], p);
        _ballooned[slot].Clear();
    }

    private void Recreate(int slot)
    {
        _gmm.DestroyVm(_vms[slot]);
        _model.Remove(_vms[slot]);
        Create(slot);
    }

    private void CompactWhileMapped(CompactWhileMappedOp o)
    {
        VirtualMachine vm = _vms[o.Vm];
        PageId before = vm.Memory.GetPage(GuestRamModel.Address(o.Page)).HostPage;
        ReadMapping mapping = vm.Memory.MapForRead(GuestRamModel.Address(o.Page));
        try
        {
            _gmm.Compactor.Run();
            if (!mapping.Span.SequenceEqual(_model.Expected(vm, o.Page))) Assert.Fail($"{vm} page {o.Page} changed under its mapping");
        }
        finally
        {
            mapping.Dispose();
        }
        Assert.Equal(before, vm.Memory.GetPage(GuestRamModel.Address(o.Page)).HostPage);
    }

    /// <summary>Pool contents are the same in every VM (fusion shares them); the rest are unique.</summary>
    private static byte[] Content(int id) => TestPages.Filled(id < CompactionOpGenerator.PoolSize ? 0xC0FFEE00UL + (ulong)id : (ulong)id << 16);
}
