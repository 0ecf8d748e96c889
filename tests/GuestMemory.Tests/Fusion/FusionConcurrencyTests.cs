using System.Collections.Concurrent;
using GuestMemory.Fusion;
using GuestMemory.Phys;

namespace GuestMemory.Tests.Fusion;

/// <summary>
/// Writer threads keep writing and re-reading their own pages, with contents drawn from a small pool,
/// through every write path (whole pages, 8-byte fast-path writes, a vCPU accessor, write mappings),
/// while the background scanner merges, zeroes and re-arms the same pages. No byte may ever differ from
/// what its writer last wrote; the state must be consistent once the scanner stopped.
/// </summary>
public sealed class FusionConcurrencyTests
{
    private const int Pages = 256;
    private const int Writers = 2;
    // Run at least this long, and on until the scanner has merged, zeroed and seen a copy-on-write
    // break (a busy machine may need longer), but never longer than the limit.
    private static readonly TimeSpan MinDuration = TimeSpan.FromSeconds(2), MaxDuration = TimeSpan.FromSeconds(15);

    [Fact]
    public void Writers_racing_the_background_scanner_never_see_a_wrong_byte()
    {
        using var world = new FusionWorld();
        VirtualMachine[] vms = [world.AddVm(Pages), world.AddVm(Pages)];
        byte[][] pool = [TestPages.Zero(), TestPages.Filled(51), TestPages.Filled(52), TestPages.Pattern()];
        var failures = new ConcurrentQueue<string>();
        var writers = new WriterThread[Writers];
        for (int w = 0; w < Writers; w++) writers[w] = new WriterThread(w, vms, pool, failures);

        foreach (WriterThread writer in writers) writer.FillAll();
        // Normal priority: at idle priority a machine busy with other tests could starve the scanner.
        world.Gmm.Fusion.Start(new FusionOptions { CpuFraction = 1, PassInterval = TimeSpan.Zero, IdlePriority = false });
        using (var stop = new CancellationTokenSource())
        {
            Thread[] threads = writers.Select(w => new Thread(() => w.Run(stop.Token))).ToArray();
            foreach (Thread t in threads) t.Start();
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (clock.Elapsed < MinDuration || (!Exercised(world.Gmm.Fusion.Statistics) && clock.Elapsed < MaxDuration && failures.IsEmpty))
                Thread.Sleep(50);
            stop.Cancel();
            foreach (Thread t in threads) t.Join();
        }
        world.Gmm.Fusion.Stop();

        Assert.Empty(failures);
        foreach (WriterThread writer in writers) writer.CheckAll();
        Assert.Empty(failures);
        world.Verify();
        FusionStatistics s = world.Gmm.Fusion.Statistics;
        Assert.True(Exercised(s), $"the scanner merged {s.PagesMerged} and zeroed {s.ZeroPagesReclaimed} pages, writes broke {s.CopyOnWriteBreaks} shares: the race was not exercised");
    }

    private static bool Exercised(FusionStatistics s) => s.PagesMerged > 0 && s.ZeroPagesReclaimed > 0 && s.CopyOnWriteBreaks > 0;

    /// <summary>One writer: owns the pages p with p % Writers == id in every VM, and their expected bytes.</summary>
    private sealed class WriterThread(int id, VirtualMachine[] vms, byte[][] pool, ConcurrentQueue<string> failures)
    {
        private readonly Dictionary<(int Vm, int Page), byte[]> _expected = [];
        private readonly Random _random = new(id + 1);

        public void FillAll()
        {
            for (int v = 0; v < vms.Length; v++)
                for (int p = id; p < Pages; p += Writers)
                    WritePage(v, p, pool[(p / Writers + v) % pool.Length]);
        }

        public void Run(CancellationToken stop)
        {
            for (long op = 0; !stop.IsCancellationRequested && failures.IsEmpty; op++)
            {
                int v = _random.Next(vms.Length);
                // Most writes go to a few hot pages; the rest stay still long enough to be merged.
                int p = (_random.Next(4) == 0 ? _random.Next(Pages / Writers) : _random.Next(8)) * Writers + id;
                byte[] content = pool[_random.Next(pool.Length)];
                switch (_random.Next(5))
                {
                    case 0: WritePage(v, p, content); break;
                    case 1: WriteWord(v, p, content, viaAccessor: false); break;
                    case 2: WriteWord(v, p, content, viaAccessor: true); break;
                    case 3: WriteMapped(v, p, content); break;
                    default: Check(v, p); break;
                }
                if (op % 64 == 0) Thread.Sleep(1); // leave idle time: the scanner runs at idle priority
            }
        }

        public void CheckAll()
        {
            foreach ((int v, int p) in _expected.Keys) Check(v, p);
        }

        private void WritePage(int v, int p, byte[] content)
        {
            vms[v].Memory.Write(FusionWorld.Address(p), content);
            _expected[(v, p)] = (byte[])content.Clone();
            Check(v, p);
        }

        private void WriteWord(int v, int p, byte[] content, bool viaAccessor)
        {
            int offset = _random.Next(Paging.PageSize / 8) * 8;
            ulong word = BitConverter.ToUInt64(content, offset), address = FusionWorld.Address(p) + (ulong)offset;
            if (viaAccessor)
            {
                using GuestMemoryAccessor cpu = vms[v].Memory.OpenAccessor();
                cpu.WriteUInt64(address, word);
            }
            else
            {
                vms[v].Memory.WriteUInt64(address, word);
            }
            BitConverter.TryWriteBytes(_expected[(v, p)].AsSpan(offset), word);
            Check(v, p);
        }

        private void WriteMapped(int v, int p, byte[] content)
        {
            using (WriteMapping map = vms[v].Memory.MapForWrite(FusionWorld.Address(p)))
            {
                if (!map.Span.SequenceEqual(_expected[(v, p)])) failures.Enqueue($"vm {v} page {p}: the write mapping shows other bytes");
                content.CopyTo(map.Span);
            }
            _expected[(v, p)] = (byte[])content.Clone();
            Check(v, p);
        }

        private void Check(int v, int p)
        {
            var buffer = new byte[Paging.PageSize];
            vms[v].Memory.Read(FusionWorld.Address(p), buffer);
            if (!buffer.AsSpan().SequenceEqual(_expected[(v, p)]))
                failures.Enqueue($"vm {v} page {p} ({vms[v].Memory.GetPage(FusionWorld.Address(p)).State}) holds other bytes than its writer wrote");
        }
    }
}
