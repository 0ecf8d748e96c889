using GuestMemory.Fusion;
using GuestMemory.Qemu;

namespace GuestMemory.Qemu.Tests.Unit;

/// <summary>
/// <see cref="GuestRam"/> and <see cref="LiveAnalysis"/> without QEMU: another process would write
/// the memfd through its /proc path exactly as these tests do.
/// </summary>
public sealed class GuestRamUnitTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gmm-ram-").FullName;
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void A_new_memfd_is_all_holes_reads_as_zeros_and_reading_allocates_nothing()
    {
        using GuestRam ram = GuestRam.Create("unit-empty", 8L << 20);
        Assert.Equal((8L << 20, 2048L), (ram.Size, ram.Pages));
        Assert.Equal(0, ram.ResidentBytes);
        Assert.Null(ram.NextData(0));
        byte[] buffer = new byte[1 << 20];
        buffer[5] = 9;
        Assert.Equal(buffer.Length, ram.Read(3L << 20, buffer));
        Assert.True(buffer.All(b => b == 0));
        Assert.Equal(0, ram.ResidentBytes);
        Assert.StartsWith($"/proc/{Environment.ProcessId}/fd/", ram.QemuPath);
    }

    [Fact]
    public void Writes_through_the_proc_path_are_read_back_found_as_extents_and_counted_resident()
    {
        using GuestRam ram = GuestRam.Create("unit-write", 8L << 20);
        byte[] data = new byte[3 * Paging.PageSize];
        new Random(3).NextBytes(data);
        using (var other = new FileStream(ram.QemuPath, FileMode.Open, FileAccess.Write)) // as QEMU opens it
        {
            other.Position = 5L << 20;
            other.Write(data);
        }
        Assert.Equal(data.Length, ram.ResidentBytes);
        Assert.Equal(((5L << 20), (5L << 20) + data.Length), ram.NextData(0));
        Assert.Null(ram.NextData((5L << 20) + data.Length));
        byte[] back = new byte[data.Length];
        Assert.Equal(back.Length, ram.Read(5L << 20, back));
        Assert.Equal(data, back);
        Assert.Equal(10, ram.Read(ram.Size - 10, new byte[100])); // short only at the end
    }

    [Fact]
    public void Live_figures_of_memfds_equal_the_dump_analysis_of_their_copies()
    {
        using GuestRam a = GuestRam.Create("unit-a", 4L << 20), b = GuestRam.Create("unit-b", 4L << 20);
        byte[] shared = Page(1), own = Page(2), zero = new byte[Paging.PageSize];
        Write(a, 0, shared); Write(a, 1 << 20, own); Write(a, 2 << 20, zero); // a zero page that is allocated
        Write(b, 3 << 20, shared);
        LiveFigures live = LiveAnalysis.Analyze([a, b], Cancel);
        string[] dumps = [Copy(a), Copy(b)];
        DumpAnalysis fromDumps = DumpAnalyzer.Analyze(dumps, null, Cancel);
        Assert.Equal(fromDumps.Total, live.Figures.Total);
        Assert.Equal(fromDumps.Files.Select(f => f.Figures), live.Figures.Files.Select(f => f.Figures));
        Assert.Equal(1, live.Figures.DistinctInSeveralFiles);
        Assert.Equal(["unit-a", "unit-b"], live.Figures.Files.Select(f => f.Path));
        Assert.Equal(4L * Paging.PageSize, live.BytesRead);
        Assert.Equal(2 * 1024 - 4, live.HolePages);
    }

    [Fact]
    public void Written_pages_read_back_and_a_discarded_range_is_zero_and_costs_nothing()
    {
        using GuestRam ram = GuestRam.Create("unit-write", 1L << 20);
        byte[] two = [.. Page(7), .. Page(8)];
        ram.Write(4 * Paging.PageSize, two);
        ram.Write(ram.Size - Paging.PageSize, Page(9));
        Assert.Equal(3L * Paging.PageSize, ram.ResidentBytes);
        byte[] back = new byte[two.Length];
        ram.Read(4 * Paging.PageSize, back);
        Assert.Equal(two, back);

        ram.Discard(4 * Paging.PageSize, Paging.PageSize);
        Assert.Equal(2L * Paging.PageSize, ram.ResidentBytes);
        ram.Read(4 * Paging.PageSize, back);
        Assert.True(back.AsSpan(0, Paging.PageSize).IndexOfAnyExcept((byte)0) < 0);
        Assert.Equal(Page(8), back[Paging.PageSize..]);
        ram.Discard(0, ram.Size);
        Assert.Equal(0, ram.ResidentBytes);

        Assert.Equal(QemuError.InvalidArgument, Assert.Throws<QemuException>(() => ram.Write(ram.Size - 1, new byte[2])).Error);
        Assert.Equal(QemuError.InvalidArgument, Assert.Throws<QemuException>(() => ram.Write(-1, new byte[1])).Error);
        Assert.Equal(QemuError.InvalidArgument, Assert.Throws<QemuException>(() => ram.Discard(1, Paging.PageSize)).Error);
        Assert.Equal(QemuError.InvalidArgument, Assert.Throws<QemuException>(() => ram.Discard(0, ram.Size + Paging.PageSize)).Error);
        Assert.Equal(QemuError.InvalidArgument, Assert.Throws<QemuException>(() => ram.Discard(Paging.PageSize, long.MaxValue)).Error);
        Assert.Equal(0, ram.ResidentBytes);

        using GuestRam readOnly = GuestRam.Open(ram.QemuPath, "unit-write");
        Assert.Equal(QemuError.HostResourceFailed, Assert.Throws<QemuException>(() => readOnly.Write(0, Page(1))).Error);
    }

    [Fact]
    public void A_resume_writer_empties_the_RAM_and_leaves_exactly_the_pages_it_was_given()
    {
        using GuestRam ram = GuestRam.Create("unit-main", 4L << 20);
        ram.Write(100 * Paging.PageSize, Page(1)); // what a QEMU put there while it started
        Assert.Equal(QemuError.ResumeRefused, Assert.Throws<QemuException>(() => new MainRamWriter(ram, 2L << 20)).Error);
        Assert.Equal(Paging.PageSize, ram.ResidentBytes); // a refused writer changed nothing

        var writer = new MainRamWriter(ram, ram.Size);
        Assert.Equal(0, ram.ResidentBytes);
        var want = new Dictionary<long, byte[]>();
        var random = new Random(17);
        // A run longer than the writer gathers, gaps, and pages out of order, as page files give them.
        long[] pages = [.. Enumerable.Range(10, 600), 5, 700, 3, 1023, 4, 900];
        foreach (long p in pages)
        {
            byte[] content = Page(random.Next());
            want[p] = content;
            writer.Write(p * Paging.PageSize, content);
        }
        writer.Flush();
        Assert.Equal(want.Count * (long)Paging.PageSize, ram.ResidentBytes);
        byte[] back = new byte[Paging.PageSize];
        for (long p = 0; p < ram.Pages; p++)
        {
            ram.Read(p * Paging.PageSize, back);
            if (want.TryGetValue(p, out byte[]? content)) Assert.Equal(content, back);
            else Assert.True(back.AsSpan().IndexOfAnyExcept((byte)0) < 0, $"page {p} should be zero");
        }
    }

    [Fact]
    public void Bad_sizes_and_offsets_are_typed_errors_and_a_disposed_memfd_is_refused()
    {
        Assert.Equal(QemuError.InvalidArgument, Assert.Throws<QemuException>(() => GuestRam.Create("x", 1000)).Error);
        Assert.Equal(QemuError.InvalidArgument, Assert.Throws<QemuException>(() => GuestRam.Create("x", (1L << 20) + 1)).Error);
        GuestRam ram = GuestRam.Create("unit-disposed", 1L << 20);
        Assert.Equal(QemuError.InvalidArgument, Assert.Throws<QemuException>(() => ram.Read(-1, new byte[1])).Error);
        Assert.Equal(QemuError.InvalidArgument, Assert.Throws<QemuException>(() => ram.Read(ram.Size + 1, new byte[1])).Error);
        string path = ram.QemuPath;
        ram.Dispose();
        Assert.True(ram.IsDisposed);
        Assert.False(File.Exists(path));
        Assert.Throws<ObjectDisposedException>(() => ram.ResidentBytes);
    }

    private static byte[] Page(int seed)
    {
        byte[] page = new byte[Paging.PageSize];
        new Random(seed).NextBytes(page);
        return page;
    }

    private static void Write(GuestRam ram, long offset, byte[] data)
    {
        using var file = new FileStream(ram.QemuPath, FileMode.Open, FileAccess.Write);
        file.Position = offset;
        file.Write(data);
    }

    private string Copy(GuestRam ram)
    {
        string path = Path.Combine(_dir, ram.Name + ".raw");
        using (FileStream file = File.Create(path)) ram.CopyTo(file, Cancel);
        return path;
    }
}
