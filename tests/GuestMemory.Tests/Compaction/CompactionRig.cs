using GuestMemory.Compaction;
using GuestMemory.Gmm;
using GuestMemory.Phys;
using GuestMemory.Tests.Fusion;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Compaction;

/// <summary>
/// A manager with VMs and a byte-exact model of their RAM for the compaction tests: every write and
/// balloon through this helper goes to the guest and to the model; <see cref="CheckAll"/> reads every
/// page back and runs the consistency check. No spare chunks and no compaction at VM shutdown unless a
/// test asks, so chunk counts are exact.
/// </summary>
internal sealed class CompactionRig : IDisposable
{
    private readonly GuestRamModel _model = new();
    private int _vmNumber;

    public CompactionRig(int hostMib = 64, bool returnFreedPagesAtOnce = false, int spareChunks = 0, ChunkPlacement? placement = null)
    {
        Gmm = new GlobalMemoryManager(new GmmOptions
        {
            HostMemoryLimit = (long)hostMib << 20,
            SpareEmptyChunks = spareChunks,
            ReturnFreedPagesAtOnce = returnFreedPagesAtOnce,
            Placement = placement ?? ChunkPlacement.Default,
        });
        Gmm.CompactOnVmShutdown = false;
    }

    public GlobalMemoryManager Gmm { get; }

    public Compactor Compactor => Gmm.Compactor;

    public IReadOnlyCollection<VirtualMachine> Vms => _model.Vms;

    public VirtualMachine AddVm(int pages, bool sharing = false)
    {
        VirtualMachine vm = Gmm.CreateVm(new VmOptions { Name = $"vm-{_vmNumber++}", RamSize = (long)pages << Paging.PageShift, PageSharing = sharing });
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

    /// <summary>Tells the model what a page holds after a write that bypassed this helper (a thread of the test's own).</summary>
    public void Expect(VirtualMachine vm, int page, byte[]? content)
    {
        if (content == null) _model.Clear(vm, page);
        else _model.Set(vm, page, content);
    }

    /// <summary>Writes a page whose bytes are unique to (VM, page, <paramref name="version"/>).</summary>
    public void WriteUnique(VirtualMachine vm, int page, int version = 0) =>
        Write(vm, page, TestPages.Filled(((ulong)vm.Handle.Value << 40) | ((ulong)(uint)version << 24) | (uint)page));

    /// <summary>Writes unique content to pages [0, count) of every VM, interleaved (page 0 of each VM, then page 1, ...).</summary>
    public void FillInterleaved(int count, params VirtualMachine[] vms)
    {
        for (int page = 0; page < count; page++)
            foreach (VirtualMachine vm in vms) WriteUnique(vm, page);
    }

    /// <summary>The guest gives these pages to its balloon; the model reads them as zero from then on.</summary>
    public void Balloon(VirtualMachine vm, IEnumerable<int> pages)
    {
        int[] list = pages.ToArray();
        vm.Memory.InflateBalloon(list.Select(p => Address(p)).ToArray());
        foreach (int page in list) _model.Clear(vm, page);
    }

    /// <summary>The guest takes these pages back from its balloon: zero pages again, writable.</summary>
    public void Deflate(VirtualMachine vm, IEnumerable<int> pages) => vm.Memory.DeflateBalloon(pages.Select(p => Address(p)).ToArray());

    /// <summary>
    /// Writes <paramref name="pages"/> pages of unique content into each VM, then balloons every other one
    /// (chunks half full) and settles the handy pages.
    /// </summary>
    public void Fragment(int pages, params VirtualMachine[] vms)
    {
        FillInterleaved(pages, vms);
        foreach (VirtualMachine vm in vms) Balloon(vm, Enumerable.Range(0, pages).Where(p => p % 2 == 1));
        SettleHandyPages();
    }

    /// <summary>
    /// Every VM gives its handy pages back (reporting the ones it used), so chunks hold exactly the pages
    /// written and a test can plan which chunk is emptiest. The next first write refills them.
    /// </summary>
    public void SettleHandyPages()
    {
        foreach (VirtualMachine vm in Vms) vm.Memory.ReturnHandyPages();
    }

    public byte[] Expected(VirtualMachine vm, int page) => _model.Expected(vm, page);

    public byte[] Read(VirtualMachine vm, int page) => GuestRamModel.Read(vm, page);

    /// <summary>Reads every page of every VM and compares it with the model.</summary>
    public void CheckContents() => _model.CheckContents();

    /// <summary>Every byte as the model says and the consistency check clean: the end of every scenario.</summary>
    public void CheckAll()
    {
        CheckContents();
        Gmm.Verify();
    }

    public GuestPageInfo Info(VirtualMachine vm, int page) => vm.Memory.GetPage(Address(page));

    public PageId HostPage(VirtualMachine vm, int page) => Info(vm, page).HostPage;

    /// <summary>The chunks that back the VM's pages that have a host page.</summary>
    public HashSet<int> ChunksOf(VirtualMachine vm) =>
        Enumerable.Range(0, _model.PageCount(vm)).Select(p => HostPage(vm, p)).Where(p => !p.IsNil).Select(p => p.ChunkId).ToHashSet();

    /// <summary>Committed chunks that are not spares.</summary>
    public int ChunksInUse => Gmm.Statistics.Chunks - Gmm.Statistics.SpareChunks;

    /// <summary>
    /// A VM whose first <paramref name="chunks"/> chunks are full of written pages and that has no other
    /// page (the few written next to its handy pages are ballooned); returns those chunks' pages.
    /// </summary>
    public IGrouping<int, int>[] FullChunks(int chunks, out VirtualMachine vm)
    {
        vm = AddVm(pages: chunks * Paging.PagesPerChunk);
        FillInterleaved(chunks * Paging.PagesPerChunk, vm);
        SettleHandyPages();
        IGrouping<int, int>[] byChunk = PagesByChunk(vm);
        foreach (IGrouping<int, int> tail in byChunk.Skip(chunks)) Balloon(vm, tail);
        return byChunk[..chunks];
    }

    /// <summary>The VM's pages grouped by the chunk that backs them, in chunk id order.</summary>
    public IGrouping<int, int>[] PagesByChunk(VirtualMachine vm) =>
        Enumerable.Range(0, (int)(vm.Options.RamSize >> Paging.PageShift))
            .Where(p => !HostPage(vm, p).IsNil)
            .GroupBy(p => HostPage(vm, p).ChunkId)
            .OrderBy(g => g.Key)
            .ToArray();

    public static ulong Address(int page) => GuestRamModel.Address(page);

    public void Dispose() => Gmm.Dispose();
}
