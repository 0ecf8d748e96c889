using GuestMemory.Fusion;

namespace GuestMemory.Tests.Fusion;

/// <summary>
/// <see cref="PageCensus"/>: the page counter behind <see cref="DumpAnalyzer"/>, fed from memory (as the
/// live view of running guests does) gives the same figures as the analyzer on the same bytes in files.
/// </summary>
public sealed class PageCensusTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gmm-census-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Pages_from_memory_give_the_figures_of_the_same_bytes_in_files()
    {
        byte[][] first = [TestPages.Filled(1), TestPages.Zero(), TestPages.Filled(1), TestPages.Filled(2)];
        byte[][] second = [TestPages.Filled(2), TestPages.Filled(3), TestPages.Zero()];
        var census = new PageCensus();
        census.BeginSource("a");
        census.AddPages(Concat(first[..2]));
        census.AddPages(Concat(first[2..])); // a source may come in several pieces
        census.BeginSource("b");
        census.AddPages(Concat(second));
        DumpAnalysis fromMemory = census.Complete();

        DumpAnalysis fromFiles = DumpAnalyzer.Analyze([Write("a.raw", first), Write("b.raw", second)], null, TestContext.Current.CancellationToken);
        Assert.Equal(fromFiles.Total, fromMemory.Total);
        Assert.Equal(fromFiles.DistinctInSeveralFiles, fromMemory.DistinctInSeveralFiles);
        Assert.Equal(fromFiles.Files.Select(f => f.Figures), fromMemory.Files.Select(f => f.Figures));
        Assert.Equal(["a", "b"], fromMemory.Files.Select(f => f.Path));
        Assert.Equal(new PageFigures(7, 2, 3), fromMemory.Total);
    }

    [Fact]
    public void Zero_pages_counted_without_bytes_equal_zero_pages_read()
    {
        var read = new PageCensus();
        read.BeginSource("guest");
        read.AddPages(Concat([TestPages.Filled(5), TestPages.Zero(), TestPages.Zero(), TestPages.Zero()]));
        var counted = new PageCensus();
        counted.BeginSource("guest");
        counted.AddPages(TestPages.Filled(5));
        counted.AddZeroPages(3);
        Assert.Equal(read.Complete().Total, counted.Complete().Total);
    }

    [Fact]
    public void Bad_input_is_refused_with_a_typed_error_and_counts_nothing()
    {
        var census = new PageCensus();
        Assert.Equal(GmmError.InvalidArgument, Assert.Throws<GmmException>(() => census.AddPages(TestPages.Zero())).Error);
        census.BeginSource("x");
        Assert.Equal(GmmError.InvalidArgument, Assert.Throws<GmmException>(() => census.AddPages(new byte[100])).Error);
        Assert.Equal(GmmError.InvalidArgument, Assert.Throws<GmmException>(() => census.AddZeroPages(-1)).Error);
        Assert.Equal(0, census.PagesCounted);
        DumpAnalysis done = census.Complete();
        Assert.Equal(new PageFigures(0, 0, 0), done.Total);
        Assert.Equal(GmmError.InvalidArgument, Assert.Throws<GmmException>(() => census.BeginSource("y")).Error);
        Assert.Equal(GmmError.InvalidArgument, Assert.Throws<GmmException>(() => census.AddZeroPages(1)).Error);
        Assert.Equal(done.Total, census.Complete().Total); // completing again gives the same figures
    }

    private static byte[] Concat(byte[][] pages) => pages.SelectMany(p => p).ToArray();

    private string Write(string name, byte[][] pages)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, Concat(pages));
        return path;
    }
}
