using System.Collections.Concurrent;
using GuestMemory.Compaction;
using GuestMemory.Fusion;
using GuestMemory.Tests.Fusion;

namespace GuestMemory.Tests.Compaction;

/// <summary>
/// Compaction while everything else runs: a writer thread per VM rewrites the first part of the VM's RAM
/// (often with contents the other VMs write too, so fusion shares them and writes break the shares),
/// the background fusion scanner and the background compactor run flat out, and the test thread rewrites
/// a second part, balloons and deflates a third, and runs passes and compactions of its own. For a
/// bounded time; then every byte must be what its writer wrote last, and <c>Verify()</c> must be clean.
/// </summary>
/// <remarks>
/// The parts leave a quarter of each VM's RAM unused, so ballooned plus allocated pages stay well below
/// the reservation: a balloon that would fill it to the last page can be refused while fusion holds
/// references for merges under way (docs/compaction.md).
/// </remarks>
public sealed class ConcurrentCompactionTests
{
    private const int Pages = 2048, WriterPages = 768, RewrittenFrom = 1024, BalloonFrom = 1536;
    private static readonly TimeSpan Duration = TimeSpan.FromSeconds(2.5);

    [Theory]
    [InlineData(21)]
    [InlineData(22)]
    public void Writers_fusion_and_compaction_at_once_lose_no_byte(int seed)
    {
        using var rig = new CompactionRig(hostMib: 128);
        VirtualMachine[] vms = [rig.AddVm(Pages, sharing: true), rig.AddVm(Pages, sharing: true), rig.AddVm(Pages, sharing: true)];
        byte[][] pool = Enumerable.Range(0, 64).Select(i => TestPages.Filled(0xFEED0000UL + (ulong)i)).ToArray();
        var errors = new ConcurrentQueue<string>();
        // Interleaved pages with a hole punched through every chunk: the compactor has chunks to empty from
        // its first look, however little time the threads get.
        rig.FillInterleaved(BalloonFrom, vms);
        foreach (VirtualMachine vm in vms)
        {
            rig.Balloon(vm, Enumerable.Range(WriterPages, RewrittenFrom - WriterPages));
            rig.Deflate(vm, Enumerable.Range(WriterPages, RewrittenFrom - WriterPages));
        }
        rig.SettleHandyPages();
        Assert.True(rig.Compactor.MeasureFragmentation().ExcessChunks > 0, "the rig is not fragmented");
        DateTime deadline = DateTime.UtcNow + Duration;
        Writer[] writers = vms.Select((vm, i) => new Writer(vm, pool, seed * 10 + i, deadline, errors, p => rig.Expected(vm, p))).ToArray();

        rig.Gmm.Fusion.Start(new FusionOptions { PassInterval = TimeSpan.FromMilliseconds(1), CpuFraction = 1, IdlePriority = false });
        rig.Compactor.Start(new CompactionOptions { Interval = TimeSpan.FromMilliseconds(1), MinimumExcessChunks = 0, CpuFraction = 1 });
        foreach (Writer w in writers) w.Start();
        var random = new Random(seed);
        var ballooned = vms.Select(_ => new HashSet<int>()).ToArray();
        while (DateTime.UtcNow < deadline) Disturb(rig, vms, ballooned, pool, random);
        foreach (Writer w in writers) w.Join();
        rig.Gmm.Fusion.Stop();
        rig.Compactor.Stop();

        Assert.Empty(errors);
        foreach (Writer w in writers) w.TellModel(rig);
        rig.Compactor.Run();
        rig.CheckAll();
        CompactionStatistics totals = rig.Compactor.Statistics;
        Assert.True(totals.PrivatePagesMoved + totals.SharedPagesMoved > 0, "no page moved: the test did not exercise compaction");
        Assert.True(rig.Gmm.Fusion.Statistics.PagesMerged > 0, "fusion merged nothing");
    }

    /// <summary>One step of the test thread on the pages no writer thread owns.</summary>
    private static void Disturb(CompactionRig rig, VirtualMachine[] vms, HashSet<int>[] ballooned, byte[][] pool, Random random)
    {
        int which = random.Next(vms.Length);
        VirtualMachine vm = vms[which];
        int first = BalloonFrom + random.Next(Pages - BalloonFrom);
        switch (random.Next(10))
        {
            case < 4:
                int start = RewrittenFrom + random.Next(BalloonFrom - RewrittenFrom);
                for (int p = start; p < Math.Min(BalloonFrom, start + 64); p++)
                    rig.Write(vm, p, random.Next(2) == 0 ? pool[random.Next(pool.Length)] : TestPages.Filled((ulong)random.NextInt64()));
                break;
            case < 6:
                int[] give = Enumerable.Range(first, Math.Min(Pages, first + 48) - first).Where(p => ballooned[which].Add(p)).ToArray();
                if (give.Length > 0) rig.Balloon(vm, give);
                break;
            case 6:
                int[] take = ballooned[which].Where(p => p >= first).Take(64).ToArray();
                rig.Deflate(vm, take);
                ballooned[which].ExceptWith(take);
                break;
            case 7:
                rig.Compactor.Run();
                break;
            case 8:
                rig.Gmm.Fusion.RunPass();
                break;
            default:
                int page = WriterPages + random.Next(Pages - WriterPages);
                if (!rig.Read(vm, page).AsSpan().SequenceEqual(rig.Expected(vm, page))) Assert.Fail($"{vm} page {page} differs from the model mid-run");
                break;
        }
    }

    /// <summary>A vCPU-like thread that rewrites the first part of one VM's RAM and reads its own writes back.</summary>
    private sealed class Writer(VirtualMachine vm, byte[][] pool, int seed, DateTime deadline, ConcurrentQueue<string> errors, Func<int, byte[]> initial)
    {
        private readonly byte[][] _expected = Enumerable.Range(0, WriterPages).Select(initial).ToArray();
        private Thread? _thread;

        public void Start()
        {
            _thread = new Thread(Run) { IsBackground = true, Name = $"writer {vm}" };
            _thread.Start();
        }

        public void Join() => _thread!.Join();

        public void TellModel(CompactionRig rig)
        {
            for (int p = 0; p < WriterPages; p++) rig.Expect(vm, p, _expected[p]);
        }

        private void Run()
        {
            var random = new Random(seed);
            var buffer = new byte[Paging.PageSize];
            try
            {
                for (long n = 0; DateTime.UtcNow < deadline; n++)
                {
                    int page = random.Next(WriterPages);
                    byte[] content = random.Next(2) == 0 ? pool[random.Next(pool.Length)] : TestPages.Filled(((ulong)seed << 40) | (ulong)n);
                    vm.Memory.Write(CompactionRig.Address(page), content);
                    _expected[page] = content;
                    int check = random.Next(WriterPages);
                    vm.Memory.Read(CompactionRig.Address(check), buffer);
                    if (!buffer.AsSpan().SequenceEqual(_expected[check])) errors.Enqueue($"{vm} page {check} lost a write (iteration {n}): now {vm.Memory.GetPage(CompactionRig.Address(check))}");
                }
            }
            catch (Exception e)
            {
                errors.Enqueue($"{vm} writer failed: {e}");
            }
        }
    }
}
