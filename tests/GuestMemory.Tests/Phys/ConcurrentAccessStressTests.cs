using System.Collections.Concurrent;
using System.Diagnostics;
using GuestMemory.Phys;

namespace GuestMemory.Tests.Phys;

/// <summary>
/// 4 VMs x 2 vCPU threads, each writing and verifying its own pages (random lengths, crossing pages), while a
/// fusion-like thread keeps arming write monitoring and merging identical pages into shared ones (and zero pages
/// back to the zero page): changes that keep every byte the guest sees. Zero mismatches, Verify clean.
/// </summary>
public sealed class ConcurrentAccessStressTests
{
    private const int VmCount = 4, ThreadsPerVm = 2, PagesPerThread = 64, HotPages = 8, PageSize = TestVms.PageSize;
    private static readonly TimeSpan Duration = TimeSpan.FromSeconds(3);
    private static readonly byte[] Patterns = [0x00, 0x3C, 0xC3];

    [Fact]
    public void Vcpu_threads_see_their_own_bytes_while_pages_are_merged_under_them()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager(hostMib: 64);
        VirtualMachine[] vms = Enumerable.Range(0, VmCount).Select(i => gmm.AddVm(ThreadsPerVm * PagesPerThread, $"vm{i}")).ToArray();
        var failures = new ConcurrentQueue<string>();
        var clock = Stopwatch.StartNew();
        var vcpus = new List<Vcpu>();
        for (int vm = 0; vm < VmCount; vm++)
            for (int t = 0; t < ThreadsPerVm; t++)
                vcpus.Add(new Vcpu(vms[vm].Memory, (ulong)(t * PagesPerThread * PageSize), seed: vm * 10 + t, failures));
        long merged = 0;
        Thread[] threads = [.. vcpus.Select(v => new Thread(() => v.Run(clock, Duration))), new Thread(() => merged = Fuse(gmm, vms, clock, failures))];

        foreach (Thread thread in threads) thread.Start();
        foreach (Thread thread in threads) thread.Join();

        Assert.Empty(failures);
        foreach (Vcpu vcpu in vcpus) vcpu.VerifyRegion();
        Assert.Empty(failures);
        Assert.True(vcpus.Sum(v => v.Operations) > 1000, "the vCPU threads hardly ran");
        Assert.True(merged > 0, "no page was ever merged: the test did not exercise what it is about");
        TestContext.Current.SendDiagnosticMessage($"{vcpus.Sum(v => v.Operations)} vCPU operations, {merged} pages merged, " +
            $"{vms.Sum(v => v.Memory.GetStatistics().CopyOnWriteBreaks)} copy-on-write breaks");
        gmm.Verify();
        gmm.DestroyAllAndVerify();
    }

    /// <summary>Arms random hot pages of random VMs and merges pairs that read the same; returns the pages merged.</summary>
    private static long Fuse(GlobalMemoryManager gmm, VirtualMachine[] vms, Stopwatch clock, ConcurrentQueue<string> failures)
    {
        var random = new Random(99);
        long merged = 0;
        try
        {
            while (clock.Elapsed < Duration)
            {
                (GuestPhysicalMemory, ulong)[] pair = [HotPage(random, vms), HotPage(random, vms)];
                if (pair[0] == pair[1]) continue;
                foreach ((GuestPhysicalMemory memory, ulong address) in pair) PageRequests.ArmWriteMonitoring(memory, address);
                merged += PageRequests.Merge(gmm.Pages, pair);
                if (random.Next(50) == 0) gmm.ReclaimRetiredPages();
            }
        }
        catch (Exception e)
        {
            failures.Enqueue($"fusion thread: {e}");
        }
        return merged;
    }

    private static (GuestPhysicalMemory, ulong) HotPage(Random random, VirtualMachine[] vms) =>
        (vms[random.Next(VmCount)].Memory, (ulong)((random.Next(ThreadsPerVm) * PagesPerThread + random.Next(HotPages)) * PageSize));

    /// <summary>One vCPU thread: writes its own region, reads it back, keeps a byte-exact copy.</summary>
    private sealed class Vcpu(GuestPhysicalMemory memory, ulong start, int seed, ConcurrentQueue<string> failures)
    {
        private readonly byte[] _expected = new byte[PagesPerThread * PageSize];
        private readonly Random _random = new(seed);

        public long Operations { get; private set; }

        public void Run(Stopwatch clock, TimeSpan duration)
        {
            try
            {
                while (clock.Elapsed < duration && failures.IsEmpty)
                {
                    Step();
                    Operations++;
                }
            }
            catch (Exception e)
            {
                failures.Enqueue($"vcpu {seed}: {e}");
            }
        }

        public void VerifyRegion() => Check(0, _expected.Length, "final check");

        private void Step()
        {
            int roll = _random.Next(100);
            if (roll < 30)
            {
                // A whole hot page of a pattern: identical pages for the fusion thread to merge.
                int page = _random.Next(HotPages);
                Write(page * PageSize, Enumerable.Repeat(Patterns[_random.Next(Patterns.Length)], PageSize).ToArray());
            }
            else if (roll < 60)
            {
                int offset = _random.Next(_expected.Length - 8);
                int length = Math.Min(_random.Next(1, 2 * PageSize), _expected.Length - offset);
                Write(offset, TestVms.Bytes(length, _random.Next()));
            }
            else if (roll < 70)
            {
                int offset = Edge(_random.Next(PagesPerThread));
                ulong value = (ulong)_random.NextInt64();
                memory.WriteUInt64(start + (ulong)offset, value);
                BitConverter.GetBytes(value).CopyTo(_expected, offset);
                if (memory.ReadUInt64(start + (ulong)offset) != value) failures.Enqueue($"vcpu {seed}: ReadUInt64 at {offset:x}");
            }
            else if (roll < 80)
            {
                int page = _random.Next(PagesPerThread);
                using ReadMapping mapping = memory.MapForRead(start + (ulong)(page * PageSize));
                if (!mapping.Span.SequenceEqual(_expected.AsSpan(page * PageSize, PageSize))) failures.Enqueue($"vcpu {seed}: mapped page {page}");
            }
            else
            {
                int offset = _random.Next(_expected.Length - 1);
                Check(offset, Math.Min(_random.Next(1, 3 * PageSize), _expected.Length - offset), "read");
            }
        }

        /// <summary>An offset a few bytes before a page edge (so 8-byte accesses cross it), inside the region.</summary>
        private int Edge(int page) => Math.Clamp(page * PageSize - _random.Next(0, 8), 0, _expected.Length - 8);

        private void Write(int offset, byte[] data)
        {
            memory.Write(start + (ulong)offset, data);
            data.CopyTo(_expected, offset);
            Check(offset, data.Length, "read-back");
        }

        private void Check(int offset, int length, string what)
        {
            byte[] actual = memory.ReadBytes(start + (ulong)offset, length);
            int same = actual.AsSpan().CommonPrefixLength(_expected.AsSpan(offset, length));
            if (same < length) failures.Enqueue($"vcpu {seed}: {what} mismatch at {offset + same:x}: {actual[same]:x2}, expected {_expected[offset + same]:x2}");
        }
    }
}
