using System.Diagnostics;
using GuestMemory.Phys;
using GuestMemory.State;

namespace GuestMemory.Migration.Source;

/// <summary>
/// Sends a VM's image in passes over a connection: the first pass every page, each later pass the pages
/// dirtied since (through the VM's <see cref="DirtyPageTracker"/>, which arms pages by requests and waits
/// for readers before they are read). A move sends one image; a mirror sends one per checkpoint, each
/// an incremental image of the pages dirtied since the last.
/// </summary>
/// <remarks>
/// <para><b>Live passes</b> read and send batch by batch while the guest runs; up to
/// <see cref="Depth"/> batches are read and queried ahead of the one being written, so the target's
/// answers travel while the source works. <b>Buffered passes</b> (a mirror's checkpoint) read every page
/// of the pass while the guest is paused and send after it resumed: the pause lasts a memory copy.</para>
/// <para>Holds the VM's dirty tracking until disposed. One session thread drives it.</para>
/// </remarks>
internal sealed class ImageSender : IDisposable
{
    /// <summary>Batches read ahead of the one being written.</summary>
    private const int Depth = 2;

    private readonly MigrationConnection _connection;
    private readonly MemoryRange[] _ranges;
    private readonly DirtyPageTracker _tracker;
    private readonly PassReader _reader;
    private readonly StateWriter _pages;
    private readonly bool _references;
    private readonly Stack<PageBatch> _spare = new();
    private readonly long _layoutPages;
    private BatchSender _sender = null!;
    private bool _trackedBefore;

    /// <param name="vm">The VM whose image is sent.</param>
    /// <param name="ranges">Its range array, as the session announced it in HELLO.</param>
    /// <param name="connection">The session's connection.</param>
    /// <param name="references">Whether the target takes content references (else every page with data is RAW).</param>
    /// <exception cref="InvalidOperationException">Another live save or migration of the VM is running.</exception>
    public ImageSender(VirtualMachine vm, MemoryRange[] ranges, MigrationConnection connection, bool references)
    {
        _connection = connection;
        _references = references;
        _ranges = ranges;
        _layoutPages = _ranges.Sum(r => (long)r.Entries.Length);
        _tracker = new DirtyPageTracker(vm.Memory, _ranges);
        _reader = new PassReader(vm.Manager.Pages.Host, _ranges, _tracker);
        _pages = connection.Writer.PageWriter();
        BeginImage();
    }

    /// <summary>The range array the tracking was set up for (a registration since changes the layout).</summary>
    public MemoryRange[] Ranges => _ranges;

    /// <summary>Passes sent of the current image.</summary>
    public uint Passes { get; private set; }

    /// <summary>Pages the next pass would take now (see <see cref="DirtyPageTracker.CountPending"/>).</summary>
    public long CountPending() => _tracker.CountPending();

    /// <summary>The figures of the image as sent so far (the final one's at COMMIT).</summary>
    public ImageCounts SentCounts() => _tracker.SentCounts();

    /// <summary>Starts a new image (a mirror's next checkpoint): passes count from 1, contents are settled anew.</summary>
    public void BeginImage()
    {
        Passes = 0;
        _sender = new BatchSender(_connection, _pages, new SentContents(_layoutPages), _references);
    }

    /// <summary>A pass read and sent while the guest runs (or stays paused, for a move's final pass).</summary>
    public PassReport SendLivePass(bool final)
    {
        long start = Stopwatch.GetTimestamp(), bytes = _connection.Stream.BytesWritten;
        long armed = Arm();
        Pipeline(LiveBatches(), ask: !final);
        return EndPass(final, armed, start, bytes);
    }

    /// <summary>Reads a whole pass into memory (call it with the guest paused); send it with <see cref="SendBuffered"/>.</summary>
    public BufferedPass ReadPass()
    {
        long start = Stopwatch.GetTimestamp();
        long armed = Arm();
        var batches = new List<PageBatch>();
        do
        {
            PageBatch batch = Rent();
            _reader.Fill(batch);
            batches.Add(batch);
        }
        while (!_reader.Done);
        return new BufferedPass(batches, armed, start);
    }

    /// <summary>Sends a pass read by <see cref="ReadPass"/> (the guest may run again meanwhile).</summary>
    public PassReport SendBuffered(BufferedPass pass, bool final)
    {
        long bytes = _connection.Stream.BytesWritten;
        Pipeline(pass.Batches, ask: true);
        return EndPass(final, pass.Armed, pass.Start, bytes);
    }

    public void Dispose() => _tracker.Dispose();

    /// <summary>Arms the pass's pages (every page in the tracker's first pass), writes PASS for passes after an image's first.</summary>
    private long Arm()
    {
        long armed = _tracker.PreparePass(first: !_trackedBefore);
        _trackedBefore = true;
        Passes++;
        if (Passes > 1) _pages.BeginPass(Passes);
        _reader.Begin();
        return armed;
    }

    private IEnumerable<PageBatch> LiveBatches()
    {
        while (!_reader.Done)
        {
            PageBatch batch = Rent();
            _reader.Fill(batch);
            yield return batch;
        }
    }

    /// <summary>Prepares batches ahead and finishes them in order; every batch goes back to the spares.</summary>
    private void Pipeline(IEnumerable<PageBatch> batches, bool ask)
    {
        var inFlight = new Queue<PageBatch>(Depth + 1);
        foreach (PageBatch batch in batches)
        {
            _sender.Prepare(batch, ask);
            inFlight.Enqueue(batch);
            if (inFlight.Count > Depth) FinishOne(inFlight);
        }
        while (inFlight.Count > 0) FinishOne(inFlight);
    }

    private void FinishOne(Queue<PageBatch> inFlight)
    {
        PageBatch batch = inFlight.Dequeue();
        _sender.Finish(batch);
        _spare.Push(batch);
    }

    private PageBatch Rent() => _spare.Count > 0 ? _spare.Pop() : new PageBatch();

    private PassReport EndPass(bool final, long armed, long start, long bytes)
    {
        _pages.Flush();
        PassRecords records = _sender.TakeRecords();
        new PassEnd(Passes, final, records).WriteTo(_connection.Payload());
        _connection.Send(MessageType.PassEnd);
        return new PassReport
        {
            Number = (int)Passes, Final = final, PagesTaken = armed, Records = records,
            Bytes = _connection.Stream.BytesWritten - bytes, Duration = Stopwatch.GetElapsedTime(start),
        };
    }
}

/// <summary>A pass read into memory while the guest was paused: its batches, the pages armed and when the pass began.</summary>
internal sealed record BufferedPass(List<PageBatch> Batches, long Armed, long Start);
