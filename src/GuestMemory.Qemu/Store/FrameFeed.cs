using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace GuestMemory.Qemu;

/// <summary>
/// The pages that page references (<see cref="PageRefs"/>, one per guest page) name, read from the page files
/// for one operation (a resume, filling a VM, a dictionary): every frame they need is decompressed once, by
/// worker threads that run ahead of the consumer from the moment the feed is made, and handed over in file
/// order (a QEMU takes page records in any order). The first frames of a base are decompressed straight into
/// the dictionary of the page files based on it, and their pages are given from there, so no frame is
/// decompressed twice; the frames that make a dictionary come before the frames that need it.
/// </summary>
/// <remarks>
/// <para>Threads: <c>_gate</c> guards <c>_next</c>, <c>_free</c>, <c>_buffers</c>, <c>_stopped</c>, <c>_consumer</c>, each
/// frame's <c>Done</c> and each dictionary's <c>Left</c>/<c>Sealed</c>/<c>Error</c>. A worker takes the next
/// frame and its output buffer in one step under the gate, so a frame once taken always has its buffer and
/// the consumer, which waits for frames in order, is never stuck behind a frame that waits for a buffer held
/// by a later one. A frame's bytes and <c>Error</c> are written by its worker before it sets <c>Done</c> under
/// the gate and read by the consumer after it saw <c>Done</c> there. Workers are threads of their own, not
/// pool threads: they block while the consumer is behind, and the pool would add threads only slowly.</para>
/// <para>Memory: at most <see cref="AheadFrames"/> (or as told) frames of 8 MiB waiting, plus the dictionaries (64 MiB each at most).</para>
/// </remarks>
internal sealed unsafe class FrameFeed : IDisposable
{
    /// <summary>Frames decompressed ahead of the consumer at most, besides a dictionary's (64 MiB: what a resume reads while its target QEMU starts).</summary>
    public const int AheadFrames = 8;
    private const int FrameBytes = PageSegment.FramePages * QemuStreamFormat.PageSize;

    /// <summary>
    /// Decompressing threads: all cores but one, which the consumer and (for a resume) the target QEMU loading
    /// the stream on this host need; a frame decompresses several times as fast as QEMU loads its pages, so one
    /// thread keeps ahead, and more on two cores would only slow the QEMU that is starting.
    /// </summary>
    private static int Workers => Math.Clamp(Environment.ProcessorCount - 1, 1, 4);

    private readonly object _gate = new();
    private readonly ulong[] _keys;
    private readonly int[] _pages;
    private readonly Frame[] _frames;
    private readonly List<Plan> _plans = [];
    private readonly Dictionary<int, SafeFileHandle> _files = [];
    private readonly Stack<nint> _free = new();
    private readonly List<nint> _buffers = [];
    private readonly Thread[] _workers;
    private readonly int _ahead;
    private int _next, _consumer;
    private bool _stopped, _consumed;

    /// <summary>Plans the frames <paramref name="refs"/> need, opens their page files and starts decompressing.</summary>
    /// <param name="refs">Per guest page its reference, 0 for a zero page.</param>
    /// <param name="segments">The store's page files by number.</param>
    /// <param name="ahead">Frames decompressed into buffers ahead of the consumer at most.</param>
    /// <exception cref="QemuException"><see cref="QemuError.StoreCorrupt"/> when a page file is missing, cannot be opened or a reference points past its end.</exception>
    public FrameFeed(ulong[] refs, Func<int, PageSegment> segments, int ahead = AheadFrames)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(ahead, 1);
        _ahead = ahead;
        int count = 0;
        foreach (ulong r in refs) if (r != 0) count++;
        _keys = new ulong[count];
        _pages = new int[count];
        for (int i = 0, n = 0; i < refs.Length; i++)
        {
            if (refs[i] == 0) continue;
            _keys[n] = refs[i];
            _pages[n++] = i;
        }
        Array.Sort(_keys, _pages); // by page file, then page in it: each frame's pages lie together
        try
        {
            _frames = PlanFrames(segments);
            foreach (Frame frame in _frames) Open(frame.Segment);
        }
        catch
        {
            Release();
            throw;
        }
        _workers = new Thread[Math.Min(_frames.Length, Workers)];
        for (int i = 0; i < _workers.Length; i++)
        {
            _workers[i] = new Thread(Work) { IsBackground = true, Name = "gmm page file frames" };
            _workers[i].Start();
        }
    }

    /// <summary>
    /// Gives each page with content with its guest page number, in file order, each page's bytes valid during
    /// the call only. Once per feed. A <see cref="Dispose"/> on another thread meanwhile ends it at the next
    /// frame with <see cref="ObjectDisposedException"/> (and waits for it to leave before freeing the frames).
    /// </summary>
    /// <exception cref="QemuException"><see cref="QemuError.StoreCorrupt"/> when a frame is cut, damaged or has the wrong size.</exception>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // one call, its loop is the hot path: no slow first tier
    public void ForEachPage(Action<int, ReadOnlySpan<byte>> page)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_stopped, this);
            if (_consumed) throw new InvalidOperationException("a feed gives its pages once");
            _consumed = true;
            _consumer = Environment.CurrentManagedThreadId;
        }
        try
        {
            foreach (Frame frame in _frames)
            {
                lock (_gate)
                {
                    while (!frame.Done && !_stopped) Monitor.Wait(_gate);
                    ObjectDisposedException.ThrowIf(_stopped, this);
                }
                try
                {
                    if (frame.Error != null) throw Failure(frame, frame.Error);
                    for (int i = frame.First; i < frame.First + frame.Count; i++)
                    {
                        ObjectDisposedException.ThrowIf(Volatile.Read(ref _stopped), this); // disposed by the callback itself
                        int slot = PageRefs.Index(_keys[i]) - frame.Number * PageSegment.FramePages;
                        page(_pages[i], new ReadOnlySpan<byte>(frame.Data + (long)slot * QemuStreamFormat.PageSize, QemuStreamFormat.PageSize));
                    }
                }
                finally
                {
                    GiveBack(frame);
                }
            }
        }
        finally
        {
            lock (_gate)
            {
                _consumer = 0;
                Monitor.PulseAll(_gate);
            }
        }
    }

    /// <summary>The frames in the order they are read: every dictionary's frames, then the frames of page files without a base, then those with one.</summary>
    private Frame[] PlanFrames(Func<int, PageSegment> segments)
    {
        var needed = new Dictionary<(int Segment, int Frame), Frame>();
        var order = new List<Frame>();
        Frame Add(PageSegment segment, int number)
        {
            if (!needed.TryGetValue((segment.Number, number), out Frame? frame))
            {
                needed[(segment.Number, number)] = frame = new Frame(segment, number);
                order.Add(frame);
            }
            return frame;
        }
        // The groups of pages by page file and frame, as sorted.
        var groups = new List<(PageSegment Segment, int Frame, int First, int Count)>();
        PageSegment? current = null;
        for (int i = 0; i < _keys.Length; i++)
        {
            int number = PageRefs.Segment(_keys[i]), index = PageRefs.Index(_keys[i]);
            if (current?.Number != number) current = segments(number);
            if (index < 0 || index >= current.Keys.Length) throw PageSegment.Corrupt(current.Path, $"page {index} is referred to, but it holds {current.Keys.Length}");
            int f = index / PageSegment.FramePages;
            if (groups.Count > 0 && groups[^1].Segment == current && groups[^1].Frame == f) groups[^1] = groups[^1] with { Count = groups[^1].Count + 1 };
            else groups.Add((current, f, i, 1));
        }
        var plans = new Dictionary<(int Base, int Pages), Plan>();
        foreach (PageSegment segment in groups.Select(g => g.Segment).Where(s => s.Base >= 0).Distinct())
        {
            if (plans.ContainsKey((segment.Base, segment.BaseDictionaryPages))) continue;
            PageSegment baseSegment = segments(segment.Base);
            segment.CheckBase(baseSegment);
            var plan = new Plan(segment.BaseDictionaryPages);
            _plans.Add(plan);
            plans[(segment.Base, segment.BaseDictionaryPages)] = plan;
            for (int f = 0; f < plan.Left; f++) Add(baseSegment, f).Fills.Add(plan);
        }
        foreach (var g in groups.Where(g => g.Segment.Base < 0)) Add(g.Segment, g.Frame);
        foreach (var g in groups.Where(g => g.Segment.Base >= 0)) Add(g.Segment, g.Frame).Needs = plans[(g.Segment.Base, g.Segment.BaseDictionaryPages)];
        foreach (var g in groups)
        {
            Frame frame = needed[(g.Segment.Number, g.Frame)];
            frame.First = g.First;
            frame.Count = g.Count;
        }
        foreach (Frame frame in order)
        {
            // A frame that lies wholly in the one dictionary it makes is decompressed into it; others into a buffer.
            int start = frame.Number * PageSegment.FramePages;
            if (frame.Fills.Count == 1 && start + frame.Pages <= frame.Fills[0].Dictionary.Pages)
                frame.Data = frame.Fills[0].Dictionary.At(start);
        }
        return [.. order];
    }

    private void Open(PageSegment segment)
    {
        if (_files.ContainsKey(segment.Number)) return;
        try { _files[segment.Number] = File.OpenHandle(segment.Path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new QemuException(QemuError.StoreCorrupt, $"page file {segment.Path} cannot be opened: {e.Message}", e);
        }
    }

    /// <summary>A worker: takes frames in order and decompresses them, until every frame is taken or the feed stops.</summary>
    private void Work()
    {
        FrameDecompressor? plain = null;
        var based = new Dictionary<Plan, FrameDecompressor>();
        byte[] packed = new byte[1 << 20];
        try
        {
            while (Take(out Frame? frame))
            {
                try
                {
                    FrameDecompressor decompressor = frame.Needs == null ? plain ??= new FrameDecompressor() : DecompressorFor(frame.Needs, based);
                    Decompress(frame, decompressor, ref packed);
                    foreach (Plan plan in frame.Fills) Made(plan, frame);
                }
                catch (Exception e) // handed to the consumer, who throws it; a worker never dies with a frame unfinished
                {
                    frame.Error = e;
                    lock (_gate) foreach (Plan plan in frame.Fills) plan.Error ??= e;
                }
                lock (_gate)
                {
                    frame.Done = true;
                    Monitor.PulseAll(_gate);
                }
            }
        }
        finally
        {
            plain?.Dispose();
            foreach (FrameDecompressor d in based.Values) d.Dispose();
        }
    }

    /// <summary>The next frame with its output (a buffer, or its place in a dictionary); false when none is left or the feed stops.</summary>
    private bool Take([NotNullWhen(true)] out Frame? frame)
    {
        lock (_gate)
        {
            while (!_stopped && _next < _frames.Length && _frames[_next].Data == null && _free.Count == 0 && _buffers.Count >= _ahead)
                Monitor.Wait(_gate);
            if (_stopped || _next == _frames.Length)
            {
                frame = null;
                return false;
            }
            frame = _frames[_next++];
            if (frame.Data == null) // not decompressed into a dictionary: into a buffer, a free one or a new one
            {
                frame.Buffer = _free.Count > 0 ? _free.Pop() : NewBuffer();
                frame.Data = (byte*)frame.Buffer;
            }
            return true;
        }
    }

    /// <summary>One more frame buffer (under the gate; at most <c>_ahead</c> of them).</summary>
    private nint NewBuffer()
    {
        var buffer = (nint)NativeMemory.Alloc(FrameBytes);
        _buffers.Add(buffer);
        return buffer;
    }

    /// <summary>A decompressor for <paramref name="plan"/>'s dictionary, once its frames are all in (waits for them).</summary>
    private FrameDecompressor DecompressorFor(Plan plan, Dictionary<Plan, FrameDecompressor> made)
    {
        if (made.TryGetValue(plan, out FrameDecompressor? decompressor)) return decompressor;
        lock (_gate)
        {
            while (!plan.Sealed && plan.Error == null && !_stopped) Monitor.Wait(_gate);
            if (plan.Error != null) throw new QemuException(QemuError.StoreCorrupt, $"the dictionary of this page file cannot be made: {plan.Error.Message}", plan.Error);
            ObjectDisposedException.ThrowIf(!plan.Sealed, this);
        }
        return made[plan] = new FrameDecompressor(plan.Dictionary);
    }

    private void Decompress(Frame frame, FrameDecompressor decompressor, ref byte[] packed)
    {
        PageSegment segment = frame.Segment;
        int length = segment.Lengths[frame.Number];
        if (packed.Length < length) packed = new byte[length];
        if (RandomAccess.Read(_files[segment.Number], packed.AsSpan(0, length), segment.Offsets[frame.Number]) != length)
            throw PageSegment.Corrupt(segment.Path, $"frame {frame.Number} cut short");
        int bytes = frame.Pages * QemuStreamFormat.PageSize;
        int written;
        try { written = decompressor.Unwrap(packed.AsSpan(0, length), new Span<byte>(frame.Data, bytes)); }
        catch (InvalidDataException e)
        {
            throw new QemuException(QemuError.StoreCorrupt, $"page file {segment.Path}: frame {frame.Number} is damaged: {e.Message}", e);
        }
        if (written != bytes) throw PageSegment.Corrupt(segment.Path, $"frame {frame.Number} has the wrong size");
    }

    /// <summary>One of <paramref name="plan"/>'s frames is in: copied into it where it was not decompressed there; the last one seals it.</summary>
    private void Made(Plan plan, Frame frame)
    {
        int start = frame.Number * PageSegment.FramePages;
        byte* place = plan.Dictionary.At(start);
        if (frame.Data != place)
        {
            int pages = Math.Min(frame.Pages, plan.Dictionary.Pages - start);
            new ReadOnlySpan<byte>(frame.Data, pages * QemuStreamFormat.PageSize).CopyTo(new Span<byte>(place, pages * QemuStreamFormat.PageSize));
        }
        bool last;
        lock (_gate) last = --plan.Left == 0;
        if (!last) return;
        plan.Dictionary.Seal();
        lock (_gate)
        {
            plan.Sealed = true;
            Monitor.PulseAll(_gate);
        }
    }

    private void GiveBack(Frame frame)
    {
        if (frame.Buffer == 0) return;
        lock (_gate)
        {
            _free.Push(frame.Buffer);
            frame.Buffer = 0;
            Monitor.PulseAll(_gate);
        }
    }

    private static QemuException Failure(Frame frame, Exception e) => e as QemuException
        ?? new QemuException(QemuError.StoreCorrupt, $"page file {frame.Segment.Path}: frame {frame.Number} cannot be read: {e.Message}", e);

    /// <summary>Stops the workers and a consumer on another thread, waits for them, then frees the buffers, dictionaries and files.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_stopped) return;
            _stopped = true;
            Monitor.PulseAll(_gate);
            // A consumer on another thread may be reading a frame: it stops at the next one.
            while (_consumer != 0 && _consumer != Environment.CurrentManagedThreadId) Monitor.Wait(_gate);
        }
        foreach (Thread worker in _workers) worker.Join();
        Release();
    }

    private void Release()
    {
        foreach (nint buffer in _buffers) NativeMemory.Free((void*)buffer);
        _buffers.Clear();
        _free.Clear();
        foreach (Plan plan in _plans) plan.Dictionary.Dispose();
        foreach (SafeFileHandle file in _files.Values) file.Dispose();
    }

    /// <summary>A dictionary being made: the base's first <paramref name="pages"/> pages.</summary>
    private sealed class Plan(int pages)
    {
        public FrameDictionary Dictionary { get; } = new(pages);
        /// <summary>Frames still to come in (under the gate): the base's frames the dictionary lies in.</summary>
        public int Left { get; set; } = (pages + PageSegment.FramePages - 1) / PageSegment.FramePages;
        public bool Sealed { get; set; }
        public Exception? Error { get; set; }
    }

    /// <summary>One frame of a page file: the pages wanted of it (<c>First</c>, <c>Count</c> in the sorted keys), the dictionaries it makes or needs, its output.</summary>
    private sealed class Frame(PageSegment segment, int number)
    {
        public PageSegment Segment { get; } = segment;
        public int Number { get; } = number;
        public int Pages { get; } = Math.Min(PageSegment.FramePages, segment.Keys.Length - number * PageSegment.FramePages);
        public int First { get; set; }
        public int Count { get; set; }
        public List<Plan> Fills { get; } = [];
        public Plan? Needs { get; set; }
        public byte* Data { get; set; }
        public nint Buffer { get; set; }
        public bool Done { get; set; }
        public Exception? Error { get; set; }
    }
}
