using System.Buffers.Binary;

namespace GuestMemory.Benchmarks;

/// <summary>
/// What one VM of <see cref="CompactionScenario"/> writes and frees, chosen up front (so the bench's own
/// bookkeeping is allocated before RSS is first read): the content of every page, a random half to
/// balloon, and a part of those to take back and write again. <see cref="Check"/> reads every page back.
/// </summary>
internal sealed class ScenarioPages
{
    private const byte Written = 0, Ballooned = 1, Rewritten = 2;
    private readonly long _pages;
    private readonly int _sharedEveryNth;
    private readonly byte[] _state;

    /// <param name="pages">Guest pages of the VM.</param>
    /// <param name="sharedEveryNth">Every n-th page holds the same content in every VM (0: none).</param>
    /// <param name="rewriteFraction">Share of the VM's pages taken back from the balloon and written again.</param>
    /// <param name="random">Chooses the ballooned and rewritten pages.</param>
    public ScenarioPages(long pages, int sharedEveryNth, double rewriteFraction, Random random)
    {
        _pages = pages;
        _sharedEveryNth = sharedEveryNth;
        _state = new byte[pages];
        ulong[] order = new ulong[pages];
        for (long p = 0; p < pages; p++) order[p] = (ulong)p << Paging.PageShift;
        random.Shuffle(order);
        BalloonedAddresses = order[..(int)(pages / 2)];
        RewrittenAddresses = BalloonedAddresses[..(int)(pages * rewriteFraction)];
    }

    /// <summary>The random half the guest gives to its balloon.</summary>
    public ulong[] BalloonedAddresses { get; }

    /// <summary>The part of those it takes back and writes again.</summary>
    public ulong[] RewrittenAddresses { get; }

    /// <summary>Writes page <paramref name="number"/>'s first content.</summary>
    public void WriteFirst(VirtualMachine vm, long number, byte[] buffer)
    {
        Fill(buffer, vm, number, version: 0);
        vm.Memory.Write((ulong)number << Paging.PageShift, buffer);
    }

    /// <summary>The guest balloons its random half, in batches as a balloon driver would.</summary>
    public void Balloon(VirtualMachine vm)
    {
        const int Batch = 4096;
        for (int start = 0; start < BalloonedAddresses.Length; start += Batch)
            vm.Memory.InflateBalloon(BalloonedAddresses.AsSpan(start, Math.Min(Batch, BalloonedAddresses.Length - start)));
        foreach (ulong address in BalloonedAddresses) _state[address >> Paging.PageShift] = Ballooned;
    }

    /// <summary>The guest takes some pages back from its balloon and writes new content to them.</summary>
    public void Rewrite(VirtualMachine vm, byte[] buffer)
    {
        if (RewrittenAddresses.Length == 0) return;
        vm.Memory.DeflateBalloon(RewrittenAddresses);
        foreach (ulong address in RewrittenAddresses)
        {
            long number = (long)(address >> Paging.PageShift);
            Fill(buffer, vm, number, version: 1);
            vm.Memory.Write(address, buffer);
            _state[number] = Rewritten;
        }
    }

    /// <summary>Reads every page back: ballooned ones as zeros, every other as last written.</summary>
    public void Check(VirtualMachine vm)
    {
        var expected = new byte[Paging.PageSize];
        var actual = new byte[Paging.PageSize];
        for (long p = 0; p < _pages; p++)
        {
            if (_state[p] == Ballooned) Array.Clear(expected);
            else Fill(expected, vm, p, _state[p] == Rewritten ? 1 : 0);
            vm.Memory.Read((ulong)p << Paging.PageShift, actual);
            if (!actual.AsSpan().SequenceEqual(expected))
                throw new InvalidOperationException($"{vm} page {p} lost its content");
        }
    }

    /// <summary>A tag, then a non-zero fill byte: unique to (VM, page, version), or the same in every VM for shared pages.</summary>
    private void Fill(Span<byte> page, VirtualMachine vm, long number, int version)
    {
        bool shared = version == 0 && _sharedEveryNth > 0 && number % _sharedEveryNth == 0;
        long tag = shared ? (1L << 62) | number : ((long)vm.Handle.Value << 40) | ((long)version << 32) | number;
        page.Fill((byte)(tag * 0x9E37 >> 8 | 1));
        BinaryPrimitives.WriteInt64LittleEndian(page, tag);
    }
}
