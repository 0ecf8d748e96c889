using GuestMemory.Fusion;

namespace GuestMemory.Tests.Fusion;

/// <summary><see cref="DumpAnalyzer"/>: exact figures of real and constructed dumps, checked against a naive oracle.</summary>
public sealed class DumpAnalyzerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gmm-analyze-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Real_slices_match_the_naive_oracle_per_file_and_together()
    {
        DumpAnalysis analysis = Analyze(RealDataSlices.Files);

        var perFile = RealDataSlices.Files.Select(f => RealDataSlices.Count(RealDataSlices.Pages(f))).ToArray();
        for (int i = 0; i < perFile.Length; i++)
        {
            PageFigures got = analysis.Files[i].Figures;
            Assert.Equal(perFile[i].Pages, got.Pages);
            Assert.Equal(perFile[i].Zero, got.ZeroPages);
            Assert.Equal(perFile[i].Distinct.Count, got.DistinctNonZeroPages);
        }
        var all = RealDataSlices.Count(RealDataSlices.Files.SelectMany(RealDataSlices.Pages));
        Assert.Equal(all.Pages, analysis.Total.Pages);
        Assert.Equal(all.Zero, analysis.Total.ZeroPages);
        Assert.Equal(all.Distinct.Count, analysis.Total.DistinctNonZeroPages);
        Assert.Equal(RealDataSlices.PerfectSavingsPct(all.Pages, all.Zero, all.Distinct.Count), analysis.Total.SavingsPct, 9);
        Assert.Equal(perFile[0].Distinct.Intersect(perFile[1].Distinct).Count(), analysis.DistinctInSeveralFiles);
        // The slices were picked to hold every kind of page; make sure they still do.
        Assert.True(all.Zero > 0 && analysis.DistinctInSeveralFiles > 0 && perFile[0].Distinct.Count < perFile[0].Pages - perFile[0].Zero);
    }

    [Fact]
    public void Raw_and_gzip_files_give_the_same_figures()
    {
        string raw = Path.Combine(_dir, "slice.raw");
        File.WriteAllBytes(raw, RealDataSlices.Decompress(RealDataSlices.Files[0]));
        Assert.Equal(Analyze(RealDataSlices.Files[0]).Total, Analyze(raw).Total);
    }

    [Fact]
    public void Pages_with_the_same_hash_but_other_bytes_count_as_distinct()
    {
        byte[] page = TestPages.Filled(11);
        string file = WriteDump("collide.raw", page, HashCollisions.SameHashOtherBytes(page), page);
        PageFigures f = Analyze(file).Total;
        Assert.Equal(new PageFigures(3, 0, 2), f);
    }

    [Fact]
    public void A_set_without_zero_pages_does_not_pay_for_a_zero_page()
    {
        byte[] a = TestPages.Filled(1), b = TestPages.Filled(2);
        PageFigures f = Analyze(WriteDump("nozero.raw", a, a, b)).Total;
        Assert.Equal(2, f.PerfectHostPages);
        Assert.Equal(RealDataSlices.PerfectSavingsPct(3, 0, 2), f.SavingsPct, 9);
    }

    [Fact]
    public void A_partial_last_page_counts_as_a_page_padded_with_zeros()
    {
        string file = Path.Combine(_dir, "partial.raw");
        byte[] bytes = new byte[Paging.PageSize + 10];
        bytes[^1] = 1;
        File.WriteAllBytes(file, bytes);
        Assert.Equal(new PageFigures(2, 1, 1), Analyze(file).Total);
    }

    [Fact]
    public void An_empty_set_saves_nothing()
    {
        PageFigures f = Analyze(WriteDump("empty.raw")).Total;
        Assert.Equal(new PageFigures(0, 0, 0), f);
        Assert.Equal(0, f.SavingsPct);
    }

    [Fact]
    public void The_same_content_in_two_files_counts_once_in_the_total()
    {
        byte[] a = TestPages.Filled(1);
        DumpAnalysis analysis = Analyze(WriteDump("one.raw", a, TestPages.Zero()), WriteDump("two.raw", a, TestPages.Filled(2)));
        Assert.Equal(new PageFigures(4, 1, 2), analysis.Total);
        Assert.Equal(1, analysis.DistinctInSeveralFiles);
    }

    [Fact]
    public void A_missing_file_is_an_io_error()
    {
        Assert.ThrowsAny<IOException>(() => Analyze(Path.Combine(_dir, "missing.raw")));
    }

    private static DumpAnalysis Analyze(params string[] files) => DumpAnalyzer.Analyze(files, null, TestContext.Current.CancellationToken);

    private string WriteDump(string name, params byte[][] pages)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, pages.SelectMany(p => p).ToArray());
        return path;
    }
}
