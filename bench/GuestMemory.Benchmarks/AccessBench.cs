using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using GuestMemory.Gmm;
using GuestMemory.Host;
using GuestMemory.Phys;

namespace GuestMemory.Benchmarks;

/// <summary>
/// The whole-system figures behind <c>gmm bench access</c>: guest memory access through the public API side by
/// side with the same work on plain native memory, first writes side by side with kernel page faults, and the
/// metadata a guest page costs. Every timed figure is a median of several runs after a warm-up run; an API
/// figure and its baseline are measured in alternation.
/// </summary>
public static unsafe class AccessBench
{
    private const int PageSize = Paging.PageSize;
    private const int CopyPages = 4096;                 // 16 MiB for the 4 KiB copies
    private const int CopyPasses = 8;
    private const int RandomPages = (64 << 20) / PageSize; // 64 MiB for the random reads
    private const int RandomReads = 1 << 21;
    private const int FirstWritePages = (64 << 20) / PageSize;

    /// <summary>Measures everything; <paramref name="repetitions"/> timed runs per figure.</summary>
    public static AccessFigures Run(int repetitions = 7)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(repetitions, 1);
        using var gmm = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = 1L << 30, SpareEmptyChunks = 0 });
        using VirtualMachine vm = gmm.CreateVm(new VmOptions { Name = "bench", RamSize = (long)RandomPages * PageSize });
        GuestPhysicalMemory memory = vm.Memory;
        var fill = new byte[PageSize];
        Random.Shared.NextBytes(fill);
        for (int page = 0; page < RandomPages; page++) memory.Write((ulong)page * PageSize, fill); // every page allocated

        using var native = new NativeBuffer((nuint)RandomPages * PageSize, hugePages: true);
        using var plain = new NativeBuffer((nuint)RandomPages * PageSize, hugePages: false);
        ulong[] addresses = RandomAddresses(new Random(42));
        var buffer = new byte[PageSize];

        (double write4k, double memcpy4k) = PairedMedians(repetitions,
            () => Gbps(() => WritePages(memory, fill)), () => Gbps(() => CopyPagesNative(native.Address, fill)));
        (double read4k, double memcpy4kRead) = PairedMedians(repetitions,
            () => Gbps(() => ReadPages(memory, buffer)), () => Gbps(() => CopyPagesFromNative(native.Address, buffer)));
        (double read8, double raw8) = PairedMedians(repetitions,
            () => NsPerRead(() => ReadRandomAccessor(memory, addresses)), () => NsPerRead(() => ReadRandomNative(plain.Address, addresses)));
        double read8Plain = Median(repetitions, () => NsPerRead(() => ReadRandom(memory, addresses)));
        double read8Span = Median(repetitions, () => NsPerRead(() => ReadRandomSpan(memory, addresses)));
        double raw8Huge = Median(repetitions, () => NsPerRead(() => ReadRandomNative(native.Address, addresses)));
        double firstWrite = Median(repetitions, () => FirstWrites(gmm));
        double kernelFault = Median(repetitions, KernelFaults);

        (double perPage, long fixedBytes) = PgmMetadata();
        return new AccessFigures(write4k, read4k, memcpy4k, memcpy4kRead, read8, read8Plain, read8Span, raw8, raw8Huge, firstWrite, kernelFault,
            perPage, fixedBytes, sizeof(ulong), repetitions, gmm.Pages.Host.HugePages);
    }

    /// <summary>Runs once to warm up (JIT, caches, page tables), then <paramref name="repetitions"/> times; returns the median.</summary>
    private static double Median(int repetitions, Func<double> measure)
    {
        measure();
        double[] runs = new double[repetitions];
        for (int i = 0; i < repetitions; i++) runs[i] = measure();
        return Middle(runs);
    }

    private static double Middle(double[] runs)
    {
        Array.Sort(runs);
        return runs[runs.Length / 2];
    }

    /// <summary>
    /// An API figure and its baseline measured in alternation (A then B, then B then A, ...) after a warm-up
    /// of each, so a slow spell of a shared machine lands on both sides of the ratio instead of on one.
    /// </summary>
    private static (double A, double B) PairedMedians(int repetitions, Func<double> a, Func<double> b)
    {
        a();
        b();
        double[] runsA = new double[repetitions], runsB = new double[repetitions];
        for (int i = 0; i < repetitions; i++)
        {
            if (i % 2 == 0) (runsA[i], runsB[i]) = (a(), b());
            else (runsB[i], runsA[i]) = (b(), a());
        }
        return (Middle(runsA), Middle(runsB));
    }

    private static double Gbps(Action copy)
    {
        long start = Stopwatch.GetTimestamp();
        copy();
        return (double)CopyPages * CopyPasses * PageSize / Stopwatch.GetElapsedTime(start).TotalSeconds / 1e9;
    }

    private static double NsPerRead(Func<ulong> reads)
    {
        long start = Stopwatch.GetTimestamp();
        GC.KeepAlive(reads());
        return Stopwatch.GetElapsedTime(start).TotalNanoseconds / RandomReads;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void WritePages(GuestPhysicalMemory memory, byte[] source)
    {
        for (int pass = 0; pass < CopyPasses; pass++)
            for (int page = 0; page < CopyPages; page++) memory.Write((ulong)page * PageSize, source);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void ReadPages(GuestPhysicalMemory memory, byte[] destination)
    {
        for (int pass = 0; pass < CopyPasses; pass++)
            for (int page = 0; page < CopyPages; page++) memory.Read((ulong)page * PageSize, destination);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void CopyPagesNative(byte* destination, byte[] source)
    {
        for (int pass = 0; pass < CopyPasses; pass++)
            for (int page = 0; page < CopyPages; page++) source.AsSpan().CopyTo(new Span<byte>(destination + (nint)page * PageSize, PageSize));
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void CopyPagesFromNative(byte* source, byte[] destination)
    {
        for (int pass = 0; pass < CopyPasses; pass++)
            for (int page = 0; page < CopyPages; page++) new ReadOnlySpan<byte>(source + (nint)page * PageSize, PageSize).CopyTo(destination);
    }

    /// <summary>Independent 8-byte reads (8-aligned, so none crosses a page) over the whole 64 MiB.</summary>
    private static ulong[] RandomAddresses(Random random)
    {
        var addresses = new ulong[RandomReads];
        for (int i = 0; i < addresses.Length; i++)
            addresses[i] = (ulong)random.Next(RandomPages) * PageSize + (ulong)random.Next(PageSize / 8) * 8;
        return addresses;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static ulong ReadRandom(GuestPhysicalMemory memory, ulong[] addresses)
    {
        ulong sum = 0;
        foreach (ulong address in addresses) sum += memory.ReadUInt64(address);
        return sum;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static ulong ReadRandomAccessor(GuestPhysicalMemory memory, ulong[] addresses)
    {
        ulong sum = 0;
        using GuestMemoryAccessor cpu = memory.OpenAccessor();
        foreach (ulong address in addresses) sum += cpu.ReadUInt64(address);
        return sum;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static ulong ReadRandomSpan(GuestPhysicalMemory memory, ulong[] addresses)
    {
        ulong sum = 0;
        Span<byte> value = stackalloc byte[8];
        foreach (ulong address in addresses)
        {
            memory.Read(address, value);
            sum += MemoryMarshal.Read<ulong>(value);
        }
        return sum;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static ulong ReadRandomNative(byte* buffer, ulong[] addresses)
    {
        ulong sum = 0;
        foreach (ulong address in addresses) sum += Unsafe.ReadUnaligned<ulong>(buffer + address);
        return sum;
    }

    /// <summary>A fresh 64 MiB VM each run: the first write to every page, allocation included.</summary>
    private static double FirstWrites(GlobalMemoryManager gmm)
    {
        using VirtualMachine fresh = gmm.CreateVm(new VmOptions { Name = "first-write", RamSize = (long)FirstWritePages * PageSize });
        long start = Stopwatch.GetTimestamp();
        for (int page = 0; page < FirstWritePages; page++) fresh.Memory.WriteUInt64((ulong)page * PageSize, 1);
        return Stopwatch.GetElapsedTime(start).TotalNanoseconds / FirstWritePages;
    }

    /// <summary>The kernel's path for the same: mmap fresh anonymous memory and touch each 4 KiB page once.</summary>
    private static double KernelFaults()
    {
        nuint bytes = (nuint)FirstWritePages * PageSize;
        long start = Stopwatch.GetTimestamp();
        byte* memory = (byte*)LinuxNative.MapAnonymousNoReserve(bytes);
        if (memory == null) throw new GmmException(GmmError.HostOutOfMemory, "mmap failed");
        for (int page = 0; page < FirstWritePages; page++) memory[(nint)page * PageSize] = 1;
        double ns = Stopwatch.GetElapsedTime(start).TotalNanoseconds / FirstWritePages;
        LinuxNative.Munmap((nint)memory, bytes);
        return ns;
    }

    /// <summary>
    /// What a VM's guest-physical structures cost, measured rather than computed: the managed bytes allocated
    /// while creating a VM (its entry array, ranges, handy pages, lock, translation cache, the Gmm's per-VM
    /// record), for a 1 GiB and a 2 GiB VM. Per guest page is the difference over the extra pages (what each
    /// page adds); fixed is what a VM costs whatever its size. Host memory for guest data is not metadata.
    /// </summary>
    private static (double PerPage, long Fixed) PgmMetadata()
    {
        const long small = 1L << 30, large = 2L << 30;
        using var gmm = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = 4L << 30 });
        VmCreationBytes(gmm, small); // warm-up: first-use allocations of the manager are not the VM's
        long smallBytes = VmCreationBytes(gmm, small), largeBytes = VmCreationBytes(gmm, large);
        double perPage = (double)(largeBytes - smallBytes) / ((large - small) / PageSize);
        return (perPage, smallBytes - (long)Math.Round(perPage * (small / PageSize)));
    }

    private static long VmCreationBytes(GlobalMemoryManager gmm, long ram)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        using VirtualMachine vm = gmm.CreateVm(new VmOptions { Name = "metadata", RamSize = ram });
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    /// <summary>
    /// A native buffer touched up front: plain (what a native program gets by default: 4 KiB pages unless the
    /// kernel's THP mode is "always"), or backed the way guest chunks are (huge pages where the kernel allows).
    /// </summary>
    private sealed class NativeBuffer : IDisposable
    {
        public NativeBuffer(nuint bytes, bool hugePages)
        {
            Address = (byte*)NativeMemory.AlignedAlloc(bytes, Paging.ChunkSize);
            if (hugePages) LinuxNative.Madvise((nint)Address, bytes, LinuxNative.MadvHugePage);
            new Span<byte>(Address, (int)bytes).Fill(0x5A);
        }

        public byte* Address { get; }

        public void Dispose() => NativeMemory.AlignedFree(Address);
    }
}
