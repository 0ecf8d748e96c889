namespace GuestMemory.Benchmarks;

/// <summary>
/// The guest memory <see cref="StateBench"/> saves. Page i of the saved VM is, by i mod 10: zero (never
/// written) for 0–4, a page also held by a second VM of the same sharing domain for 5 (merged into a
/// shared page by two page-fusion passes: one arms, one merges), and random bytes for 6–9.
/// </summary>
internal static class StateBenchContent
{
    private const int ChunkBytes = 1 << 20;

    public static VirtualMachine Create(GlobalMemoryManager gmm, long guestBytes, int seed)
    {
        long pages = guestBytes >> Paging.PageShift;
        VirtualMachine saved = gmm.CreateVm(new VmOptions { Name = "saved", RamSize = guestBytes, SharingDomain = "bench" });
        VirtualMachine twin = gmm.CreateVm(new VmOptions { Name = "twin", RamSize = (pages / 10 + 1) * Paging.PageSize, SharingDomain = "bench" });
        var random = new Random(seed);
        byte[] page = new byte[Paging.PageSize];
        long twinPage = 0;
        for (long p = 0; p < pages; p++)
        {
            long kind = p % 10;
            if (kind < 5) continue;
            random.NextBytes(page);
            saved.Memory.Write((ulong)p << Paging.PageShift, page);
            if (kind == 5) twin.Memory.Write((ulong)twinPage++ << Paging.PageShift, page);
        }
        gmm.Fusion.RunPass();
        gmm.Fusion.RunPass();
        return saved;
    }

    /// <summary>Guest RAM of <paramref name="vm"/> as a plain dump, 1 MiB at a time.</summary>
    public static void Dump(VirtualMachine vm, Stream destination)
    {
        byte[] chunk = new byte[ChunkBytes];
        for (long at = 0; at < vm.Options.RamSize; at += ChunkBytes)
        {
            int n = (int)Math.Min(ChunkBytes, vm.Options.RamSize - at);
            vm.Memory.Read((ulong)at, chunk.AsSpan(0, n));
            destination.Write(chunk, 0, n);
        }
    }

    public static bool SameMemory(VirtualMachine a, VirtualMachine b)
    {
        if (a.Options.RamSize != b.Options.RamSize) return false;
        byte[] x = new byte[ChunkBytes], y = new byte[ChunkBytes];
        for (long at = 0; at < a.Options.RamSize; at += ChunkBytes)
        {
            int n = (int)Math.Min(ChunkBytes, a.Options.RamSize - at);
            a.Memory.Read((ulong)at, x.AsSpan(0, n));
            b.Memory.Read((ulong)at, y.AsSpan(0, n));
            if (!x.AsSpan(0, n).SequenceEqual(y.AsSpan(0, n))) return false;
        }
        return true;
    }
}

/// <summary>Where the bench puts the state: a preallocated MemoryStream, or a file in the temp directory (atomic save, fsync).</summary>
internal sealed class StateSink : IDisposable
{
    private readonly MemoryStream? _memory;
    private readonly string? _path;

    public StateSink(bool toFile, long capacity)
    {
        if (toFile) _path = Path.Combine(Path.GetTempPath(), $"gmm-bench-state-{Environment.ProcessId}.state");
        else _memory = new MemoryStream(checked((int)capacity));
    }

    public State.SavedStateSummary Save(VirtualMachine vm)
    {
        if (_path != null) return vm.SaveState(_path);
        _memory!.SetLength(0);
        return vm.SaveState(_memory);
    }

    public State.RestoreSummary Restore(VirtualMachine vm) =>
        _path != null ? vm.RestoreState(_path) : vm.RestoreState(new MemoryStream(_memory!.GetBuffer(), 0, (int)_memory.Length, writable: false));

    public void Dispose()
    {
        if (_path != null) File.Delete(_path);
    }
}

/// <summary>A write-only stream that only counts (the gzip output's size is all that matters).</summary>
internal sealed class CountingStream : Stream
{
    private long _length;
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => _length;
    public override long Position { get => _length; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => _length += count;
    public override void Write(ReadOnlySpan<byte> buffer) => _length += buffer.Length;
}
