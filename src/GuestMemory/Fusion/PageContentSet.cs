using System.Runtime.CompilerServices;
namespace GuestMemory.Fusion;

/// <summary>
/// An exact set of 4 KiB page contents: <see cref="PageHash"/> picks a bucket, and within the bucket
/// every candidate is compared byte by byte, so a hash collision can never merge two different pages
/// (it only makes one bucket longer). Each content remembers the last source that added it, so one set
/// counts distinct contents per source and over all sources in one pass.
/// Memory: one copy of every distinct content (4 KiB each) plus 16 bytes of bookkeeping.
/// </summary>
internal sealed class PageContentSet
{
    private const int PagesPerBlock = 64; // 256 KiB blocks: large enough to be cheap, small enough to grow smoothly
    private readonly Dictionary<ulong, int> _firstByHash = [];
    private readonly List<byte[]> _blocks = [];
    private Entry[] _entries = new Entry[1024];

    private struct Entry
    {
        public int Next;       // next content with the same hash, or -1
        public int LastSource; // the last source that added this content
        public bool Repeated;  // added by more than one source
    }

    /// <summary>Distinct contents held.</summary>
    public int Count { get; private set; }

    /// <summary>Distinct contents added by more than one source.</summary>
    public int SeenInSeveralSources { get; private set; }

    /// <summary>
    /// Adds one page on behalf of <paramref name="source"/>. Sources are numbered from 0 and add their
    /// pages one source after another (all of one before the next). Returns true when the content is new
    /// to that source.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public bool Add(ReadOnlySpan<byte> page, int source)
    {
        ulong hash = PageHash.Compute(page);
        if (_firstByHash.TryGetValue(hash, out int first))
        {
            int last = first;
            for (int i = first; i >= 0; i = _entries[i].Next)
            {
                last = i;
                if (PageContent.Equal(page, Content(i))) return Seen(ref _entries[i], source);
            }
            _entries[last].Next = Append(page, source); // a collision: same hash, other bytes
            return true;
        }
        _firstByHash.Add(hash, Append(page, source));
        return true;
    }

    private bool Seen(ref Entry entry, int source)
    {
        if (entry.LastSource == source) return false;
        if (!entry.Repeated)
        {
            entry.Repeated = true;
            SeenInSeveralSources++;
        }
        entry.LastSource = source;
        return true;
    }

    private int Append(ReadOnlySpan<byte> page, int source)
    {
        int index = Count++;
        if (index == _entries.Length) Array.Resize(ref _entries, index * 2);
        _entries[index] = new Entry { Next = -1, LastSource = source };
        if (index / PagesPerBlock == _blocks.Count) _blocks.Add(new byte[PagesPerBlock * Paging.PageSize]);
        page.CopyTo(Content(index));
        return index;
    }

    private Span<byte> Content(int index) =>
        _blocks[index / PagesPerBlock].AsSpan(index % PagesPerBlock * Paging.PageSize, Paging.PageSize);
}
