using System.IO.Compression;

namespace GuestMemory.Tests.Fusion;

/// <summary>
/// The real guest RAM slices in <c>Data/</c> (see its README) and a naive oracle for their figures:
/// whole file in memory, page contents as strings in a HashSet. Deliberately nothing like the code
/// under test.
/// </summary>
internal static class RealDataSlices
{
    public static readonly string[] Files =
    [
        Path.Combine(AppContext.BaseDirectory, "Data", "s1_idle_vm3.slice.raw.gz"),
        Path.Combine(AppContext.BaseDirectory, "Data", "s2_filecache_vm3.slice.raw.gz"),
    ];

    public static byte[] Decompress(string path)
    {
        using var gzip = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var memory = new MemoryStream();
        gzip.CopyTo(memory);
        return memory.ToArray();
    }

    public static byte[][] Pages(string path)
    {
        byte[] bytes = Decompress(path);
        return Enumerable.Range(0, bytes.Length / Paging.PageSize)
            .Select(i => bytes.AsSpan(i * Paging.PageSize, Paging.PageSize).ToArray()).ToArray();
    }

    /// <summary>The oracle: (pages, zero pages, distinct non-zero contents) of some pages.</summary>
    public static (long Pages, long Zero, HashSet<string> Distinct) Count(IEnumerable<byte[]> pages)
    {
        long count = 0, zero = 0;
        var distinct = new HashSet<string>();
        foreach (byte[] page in pages)
        {
            count++;
            if (page.All(b => b == 0)) zero++;
            else distinct.Add(Convert.ToBase64String(page));
        }
        return (count, zero, distinct);
    }

    /// <summary>The savings definition of the data README, with the zero page counted only if a page is zero.</summary>
    public static double PerfectSavingsPct(long pages, long zero, long distinct) =>
        100.0 * (pages - distinct - (zero > 0 ? 1 : 0)) / pages;
}
