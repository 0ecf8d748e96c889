using System.Buffers.Binary;
using GuestMemory.Qemu.Tests.Support;
using GuestMemory.Tests.Support;

namespace GuestMemory.Qemu.Tests.Store;

/// <summary>
/// The frame feed that resumes and fills read page files through: every page a reference names comes once,
/// exactly, in file order, with dictionaries made from the base's frames it also gives pages of (a dictionary
/// of whole frames, one of part of a frame, two of one base), however few frames it may hold ahead; a
/// damaged frame is StoreCorrupt; a dispose racing a consumer ends it without a hang or a read of freed memory.
/// </summary>
[Collection(ZstdLibrary.Collection)]
public sealed class FrameFeedTests : IDisposable
{
    private const int BasePages = 5000, OddDictionaryPages = 100;
    private readonly string _folder = Directory.CreateTempSubdirectory("gmm-feed-").FullName;
    private readonly Dictionary<int, PageSegment> _segments = [];
    private readonly Dictionary<ulong, byte[]> _contents = [];

    public FrameFeedTests()
    {
        // Base: text-like pages; two files based on it (all of it as the dictionary: 3 frames, the last partial;
        // its first 100 pages: part of a frame), their pages the base's bytes at offsets not a page apart.
        PageSegment baseSegment = Write(0, BasePages, null, 0, i => Text(i * 4096L));
        Write(1, 2100, baseSegment, BasePages, i => Text(i * 4096L + 1000));
        Write(2, 2500, baseSegment, OddDictionaryPages, i => Text(i * 4096L + 77));
        Write(3, 300, null, 0, i => Text(1L << 40 | (uint)i * 4096));
    }

    [Theory]
    [InlineData(1, true)]
    [InlineData(2, true)]
    [InlineData(FrameFeed.AheadFrames, true)]
    [InlineData(1, false)]
    public void Every_referenced_page_comes_once_exactly_in_file_order(int ahead, bool systemLibrary)
    {
        ZstdLibrary.With(systemLibrary, () =>
        {
            for (int seed = 1; seed <= 3; seed++)
            {
                ulong[] refs = Refs(seed, pages: 9000);
                var seen = new bool[refs.Length];
                ulong last = 0;
                using (var feed = new FrameFeed(refs, n => _segments[n], ahead))
                {
                    feed.ForEachPage((page, data) =>
                    {
                        Assert.False(seen[page], $"guest page {page} came twice");
                        seen[page] = true;
                        Assert.True(data.SequenceEqual(_contents[refs[page]]), $"guest page {page} ({Describe(refs[page])}) has other bytes");
                        ulong order = Order(refs[page]);
                        Assert.True(order >= last, "pages come in file order, dictionaries' frames first, based files last");
                        last = order;
                    });
                }
                for (int page = 0; page < refs.Length; page++) Assert.Equal(refs[page] != 0, seen[page]);
            }
        });
    }

    [Fact]
    public void A_feed_of_zero_pages_only_gives_nothing_and_gives_it_once()
    {
        using var feed = new FrameFeed(new ulong[64], n => _segments[n]);
        int pages = 0;
        feed.ForEachPage((_, _) => pages++);
        Assert.Equal(0, pages);
        Assert.Throws<InvalidOperationException>(() => feed.ForEachPage((_, _) => { }));
    }

    [Fact]
    public void A_reference_past_a_page_files_end_or_to_a_missing_file_is_a_corrupt_store()
    {
        Assert.Equal(QemuError.StoreCorrupt, Assert.Throws<QemuException>(() => new FrameFeed([PageRefs.Make(3, 300)], n => _segments[n])).Error);
        Assert.Equal(QemuError.StoreCorrupt, Assert.Throws<QemuException>(() => new FrameFeed([PageRefs.Make(3, -1)], n => _segments[n])).Error);
        Func<int, PageSegment> gone = n => n == 0 ? throw new QemuException(QemuError.StoreCorrupt, "page file 0 is not in the store") : _segments[n];
        Assert.Equal(QemuError.StoreCorrupt, Assert.Throws<QemuException>(() => new FrameFeed([PageRefs.Make(1, 0)], gone)).Error);
    }

    /// <summary>A damaged frame of the base: the pages of the files based on it fail as StoreCorrupt, never hang, never come wrong.</summary>
    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    public void A_damaged_base_frame_fails_its_pages_and_those_that_need_its_dictionary(int frame)
    {
        PageSegment baseSegment = _segments[0];
        using (var file = new FileStream(baseSegment.Path, FileMode.Open, FileAccess.ReadWrite))
        {
            file.Position = baseSegment.Offsets[frame] + baseSegment.Lengths[frame] / 2;
            int b = file.ReadByte();
            file.Position--;
            file.WriteByte((byte)(b ^ 0x5a));
        }
        // A page of the damaged frame, a page of the file whose dictionary is the whole base, a mix of every file.
        foreach (ulong[] refs in new[] { [PageRefs.Make(0, frame * PageSegment.FramePages + 1)], [PageRefs.Make(1, 5)], Refs(7, pages: 3000) })
        {
            using var feed = new FrameFeed(refs, n => _segments[n], ahead: 1);
            Exception? error = Within(() => feed.ForEachPage((page, data) => Assert.True(data.SequenceEqual(_contents[refs[page]]))));
            Assert.Equal(QemuError.StoreCorrupt, Assert.IsType<QemuException>(error).Error);
        }
        // The file whose dictionary is the base's first 100 pages needs frame 0 only.
        ulong[] odd = [PageRefs.Make(2, 5)];
        using var other = new FrameFeed(odd, n => _segments[n]);
        Exception? read = Within(() => other.ForEachPage((page, data) => Assert.True(data.SequenceEqual(_contents[odd[page]]))));
        if (frame == 0) Assert.Equal(QemuError.StoreCorrupt, Assert.IsType<QemuException>(read).Error);
        else Assert.Null(read);
    }

    /// <summary>Dispose from another thread while a consumer reads, and from inside the consumer's callback.</summary>
    [Fact]
    public void Dispose_racing_a_consumer_ends_it_without_a_hang()
    {
        for (int round = 0; round < 20; round++)
        {
            ulong[] refs = Refs(round, pages: 6000);
            var feed = new FrameFeed(refs, n => _segments[n], ahead: 1 + round % 3);
            Task consuming = Task.Run(() => feed.ForEachPage((page, data) => Assert.True(data.SequenceEqual(_contents[refs[page]]))), TestContext.Current.CancellationToken);
            Thread.Sleep(round % 4);
            Assert.Null(Within(feed.Dispose));
            Exception? ended = Within(() => consuming.GetAwaiter().GetResult());
            Assert.True(ended is null or ObjectDisposedException, $"the consumer ended with {ended}");
        }
        ulong[] some = Refs(99, pages: 4000);
        var inside = new FrameFeed(some, n => _segments[n]);
        Assert.IsType<ObjectDisposedException>(Within(() => inside.ForEachPage((_, _) => inside.Dispose())));
    }

    /// <summary>Runs <paramref name="action"/> under the watchdog (a hang fails with every thread's stack); returns what it threw.</summary>
    private static Exception? Within(Action action)
    {
        try { Watchdog.Within(TimeSpan.FromSeconds(60), action); }
        catch (AggregateException e) { return e.InnerExceptions.Single(); }
        return null;
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    /// <summary>Random references to every file's pages (a fifth of the guest zero, pages named twice too).</summary>
    private ulong[] Refs(int seed, int pages)
    {
        var random = new Random(seed);
        var refs = new ulong[pages];
        for (int i = 0; i < pages; i++)
        {
            if (random.Next(5) == 0) continue;
            int segment = random.Next(_segments.Count);
            refs[i] = PageRefs.Make(segment, random.Next(_segments[segment].Keys.Length));
        }
        return refs;
    }

    /// <summary>The order the feed gives pages in: dictionary frames (the base's first frames), other files without a base, files with one.</summary>
    private ulong Order(ulong reference)
    {
        PageSegment segment = _segments[PageRefs.Segment(reference)];
        bool makesDictionary = segment.Number == 0 && PageRefs.Index(reference) < BasePages;
        return (ulong)(makesDictionary ? 0 : segment.Base < 0 ? 1 : 2) << 62 | reference;
    }

    private static string Describe(ulong reference) => $"file {PageRefs.Segment(reference)}, page {PageRefs.Index(reference)}";

    private PageSegment Write(int number, int pages, PageSegment? baseSegment, int dictionaryPages, Func<int, byte[]> content)
    {
        var keys = new List<PageKey>();
        var bytes = new List<byte[]>();
        for (int i = 0; i < pages; i++)
        {
            byte[] page = content(i);
            keys.Add(PageKey.Of(page));
            bytes.Add(page);
            _contents[PageRefs.Make(number, i)] = page;
        }
        using FrameDictionary? dictionary = baseSegment == null ? null : new FrameDictionary(dictionaryPages);
        for (int i = 0; i < dictionaryPages; i++) _contents[PageRefs.Make(baseSegment!.Number, i)].CopyTo(dictionary!.Page(i));
        PageSegment segment = PageSegment.Write(_folder, number, keys, (i, destination) => bytes[i].CopyTo(destination), baseSegment, dictionary);
        _segments[number] = segment;
        return segment;
    }

    /// <summary>4096 bytes of a text-like stream from byte <paramref name="at"/> on: compressible, and the same bytes wherever they are taken from.</summary>
    private static byte[] Text(long at)
    {
        byte[] page = new byte[4096];
        for (int i = 0; i < page.Length; i++)
        {
            long p = at + i;
            ulong h = (ulong)(p / 5) * 0x9E3779B97F4A7C15UL;
            page[i] = (byte)"abcdefghij klmnop\n"[(int)((h >> 40) % 18)];
        }
        BinaryPrimitives.WriteInt64LittleEndian(page.AsSpan(0), at / 4096); // no two pages alike
        return page;
    }
}
