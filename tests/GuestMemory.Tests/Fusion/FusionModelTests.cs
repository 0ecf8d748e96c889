using GuestMemory.Fusion;
using GuestMemory.Phys;

namespace GuestMemory.Tests.Fusion;

/// <summary>
/// Model-based random test: several VMs (two in one domain, one in another, one with sharing off) take
/// thousands of random writes of a small pool of contents, so duplicates and zero pages are common,
/// interleaved with fusion passes, mappings, resets and VM replacement. After every step the Gmm and
/// the VMs must be consistent (<c>Verify</c>); page contents are compared with the byte-exact model
/// often and at the end. A failure names its seed and the last steps.
/// </summary>
public sealed class FusionModelTests
{
    private const int PagesPerVm = 48;
    private const int Steps = 2500;

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void Random_writes_and_passes_keep_every_byte(int seed)
    {
        var log = new Queue<string>();
        int step = 0;
        try
        {
            Run(seed, log, ref step);
        }
        catch (Exception e)
        {
            throw new InvalidOperationException($"fusion model test failed: seed {seed}, step {step}; last steps:{Environment.NewLine}{string.Join(Environment.NewLine, log)}", e);
        }
    }

    private static void Run(int seed, Queue<string> log, ref int step)
    {
        var random = new Random(seed);
        byte[][] pool = [TestPages.Zero(), .. Enumerable.Range(1, 6).Select(i => TestPages.Filled((ulong)(seed * 100 + i)))];
        using var world = new FusionWorld();
        (string Domain, bool Sharing)[] kinds = [("a", true), ("a", true), ("b", true), ("a", false)];
        var vms = kinds.Select(k => world.AddVm(PagesPerVm, k.Domain, k.Sharing)).ToArray();
        long merged = 0, copyOnWrite = 0;

        for (step = 0; step < Steps; step++)
        {
            int which = random.Next(vms.Length);
            VirtualMachine vm = vms[which];
            int page = random.Next(PagesPerVm);
            int roll = random.Next(100);
            string op;
            if (roll < 40)
            {
                int content = random.Next(pool.Length);
                world.Write(vm, page, pool[content]);
                op = $"write {vm} page {page} := pool[{content}]";
            }
            else if (roll < 50)
            {
                int content = random.Next(pool.Length), offset = random.Next(Paging.PageSize / 8) * 8;
                world.WriteBytes(vm, page, offset, pool[content].AsSpan(offset, 8));
                op = $"write {vm} page {page} + {offset} := 8 bytes of pool[{content}]";
            }
            else if (roll < 75)
            {
                FusionPassResult r = world.Gmm.Fusion.RunPass();
                merged += r.Merged;
                op = $"pass: {r}";
            }
            else if (roll < 88)
            {
                Assert.True(world.Read(vm, page).AsSpan().SequenceEqual(world.Expected(vm, page)), $"{vm} page {page} ({world.State(vm, page)}) differs from the model");
                op = $"check {vm} page {page}";
            }
            else if (roll < 95)
            {
                int content = random.Next(pool.Length);
                using (WriteMapping map = vm.Memory.MapForWrite(FusionWorld.Address(page))) pool[content].CopyTo(map.Span);
                world.Expect(vm, page, pool[content]);
                op = $"map {vm} page {page} := pool[{content}]";
            }
            else if (roll < 98)
            {
                vm.Memory.Reset();
                for (int p = 0; p < PagesPerVm; p++) world.Expect(vm, p, TestPages.Zero());
                op = $"reset {vm}";
            }
            else
            {
                copyOnWrite += vm.Memory.GetStatistics().CopyOnWriteBreaks;
                world.DestroyVm(vm);
                vms[which] = world.AddVm(PagesPerVm, kinds[which].Domain, kinds[which].Sharing);
                op = $"replace {vm} by {vms[which]}";
            }
            log.Enqueue(op);
            if (log.Count > 25) log.Dequeue();
            world.Verify();
        }

        for (int pass = 0; pass < 3; pass++) merged += world.Gmm.Fusion.RunPass().Merged;
        world.CheckAll();
        Assert.True(merged > 0, "no pass merged anything: the test did not exercise sharing");
        Assert.True(copyOnWrite + world.Gmm.Fusion.Statistics.CopyOnWriteBreaks > 0, "no write broke a share: the test did not exercise copy-on-write");
    }
}
