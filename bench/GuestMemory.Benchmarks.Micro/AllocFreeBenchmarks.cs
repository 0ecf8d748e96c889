using BenchmarkDotNet.Attributes;
using GuestMemory.Gmm;

namespace GuestMemory.Benchmarks;

/// <summary>
/// The allocate/free hot path on committed chunks: one page at a time, and a batch of 128 (a VM's handy
/// page refill). Results are per page. The VM keeps a page of its own so its chunk never empties.
/// </summary>
[MemoryDiagnoser]
public class AllocFreeBenchmarks
{
    private PageManager _gmm = null!;
    private VmHandle _vm;
    private readonly PageDescriptor[] _one = new PageDescriptor[1];
    private readonly PageId[] _oneId = new PageId[1];
    private readonly PageDescriptor[] _batch = new PageDescriptor[AllocBench.Batch];
    private readonly PageId[] _batchIds = new PageId[AllocBench.Batch];

    [GlobalSetup]
    public void Setup()
    {
        _gmm = new PageManager(new GmmOptions { HostMemoryLimit = 64L << 20, SpareEmptyChunks = 2 });
        _vm = _gmm.RegisterVm("bench", new AccountPages(16_384, 0, 0));
        _gmm.AllocatePages(_vm, GmmAccount.Base, new PageDescriptor[1], zero: false);
    }

    [GlobalCleanup]
    public void Cleanup() => _gmm.Dispose();

    [Benchmark(Baseline = true)]
    public void AllocateAndFreeOnePage()
    {
        _gmm.AllocatePages(_vm, GmmAccount.Base, _one, zero: false);
        _oneId[0] = _one[0].Page;
        _gmm.FreePages(_vm, GmmAccount.Base, _oneId);
    }

    [Benchmark(OperationsPerInvoke = AllocBench.Batch)]
    public void AllocateAndFreeBatchOf128()
    {
        _gmm.AllocatePages(_vm, GmmAccount.Base, _batch, zero: false);
        for (int i = 0; i < _batchIds.Length; i++) _batchIds[i] = _batch[i].Page;
        _gmm.FreePages(_vm, GmmAccount.Base, _batchIds);
    }

    [Benchmark(OperationsPerInvoke = AllocBench.Batch)]
    public void AllocateZeroedAndFreeBatchOf128()
    {
        _gmm.AllocatePages(_vm, GmmAccount.Base, _batch, zero: true);
        for (int i = 0; i < _batchIds.Length; i++) _batchIds[i] = _batch[i].Page;
        _gmm.FreePages(_vm, GmmAccount.Base, _batchIds);
    }
}
