using GuestMemory.Phys;

namespace GuestMemory.State;

/// <summary>
/// A save of a VM that keeps running (seed: live save; VirtualBox's pgmR3LiveExec): the first pass sends
/// every page while the guest writes on, each later pass only the pages dirtied since the pass before,
/// and the final pass, taken while the caller has paused the writers, makes the image exact. Each pass
/// is written as a PASS record followed by records for the dirtied pages and SKIP runs for the rest.
/// </summary>
/// <example>
/// <code>
/// using var save = vm.BeginLiveSave(stream);          // header and first pass
/// while (save.PagesSentLastPass > 1000 &amp;&amp; save.Passes &lt; 8) save.RunPass();
/// PauseVcpus();                                         // the caller's writers stop here
/// save.Complete();                                      // final pass and END
/// ResumeVcpus();
/// </code>
/// </example>
/// <remarks>One live save (or migration) per VM at a time. Not thread-safe: one thread drives it.</remarks>
public sealed class LiveStateSave : IDisposable
{
    private readonly GuestPhysicalMemory _memory;
    private readonly MemoryRange[] _ranges;
    private readonly DirtyPageTracker _tracker;
    private readonly StateWriter _writer;
    private readonly PageEmitter _emitter;
    private bool _done;

    internal LiveStateSave(VirtualMachine vm, Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        _memory = vm.Memory;
        _ranges = _memory.RangeSnapshot();
        _tracker = new DirtyPageTracker(_memory, _ranges);
        try
        {
            _writer = new StateWriter(stream);
            _emitter = new PageEmitter(vm.Manager.Pages.Host, _writer);
            _writer.WriteHeader(StatePlan.Count(vm.Manager.Pages.Host, _ranges));
            Send(first: true, final: false);
        }
        catch
        {
            _tracker.Dispose();
            throw;
        }
    }

    /// <summary>Passes written so far (the first is written when the save begins).</summary>
    public int Passes { get; private set; }

    /// <summary>Pages the last pass sent: how fast the guest dirties memory, for deciding when to stop.</summary>
    public long PagesSentLastPass { get; private set; }

    /// <summary>Bytes written to the stream so far.</summary>
    public long BytesWritten => _writer.BytesWritten;

    /// <summary>Sends the pages dirtied since the previous pass while the guest keeps running; returns how many.</summary>
    /// <exception cref="InvalidOperationException">The save was completed, abandoned or failed.</exception>
    public long RunPass()
    {
        CheckOpen();
        Send(first: false, final: false);
        return PagesSentLastPass;
    }

    /// <summary>
    /// The final pass and END. Call it with the VM's writers paused: the pages it reads are then exact,
    /// and the state restores to the image of this moment. The caller resumes the writers afterwards.
    /// </summary>
    /// <exception cref="GmmException"><see cref="GmmError.StateLayoutMismatch"/> when ranges were registered during the save.</exception>
    public SavedStateSummary Complete()
    {
        CheckOpen();
        if (!ReferenceEquals(_memory.RangeSnapshot(), _ranges))
            throw new GmmException(GmmError.StateLayoutMismatch, "ranges were registered during the live save");
        Send(first: false, final: true);
        ImageCounts counts = _tracker.SentCounts();
        try
        {
            _writer.Finish((uint)Passes, counts.NonZero, _emitter.SharedContents, counts.Ballooned);
        }
        finally
        {
            Dispose();
        }
        return _emitter.Written.Summary(_writer.BytesWritten, Passes, counts.NonZero);
    }

    /// <summary>Ends the save (completed or not) and gives the VM's dirty tracking back.</summary>
    public void Dispose()
    {
        _done = true;
        _tracker.Dispose();
    }

    private void CheckOpen()
    {
        if (_done) throw new InvalidOperationException("the live save has completed, failed or been disposed");
    }

    private void Send(bool first, bool final)
    {
        try
        {
            long pages = _tracker.PreparePass(first);
            if (!first)
            {
                _writer.BeginPass((uint)Passes + 1);
                _emitter.BeginPass();
            }
            for (int r = 0; r < _ranges.Length; r++) SendRange(r);
            Passes++;
            PagesSentLastPass = pages;
        }
        catch
        {
            Dispose(); // a pass cut short leaves the stream unusable
            throw;
        }
    }

    private void SendRange(int r)
    {
        MemoryRange range = _ranges[r];
        int pages = range.Entries.Length;
        for (int i = 0; i < pages;)
        {
            if ((i & 63) == 0 && _tracker.PendingWord(r, i) == 0)
            {
                int stretch = Math.Min(64, pages - i);
                _writer.Run(RecordType.Skip, (uint)stretch);
                i += stretch;
                continue;
            }
            if (_tracker.IsPending(r, i)) _tracker.Sent(r, i, _emitter.Emit(range, i));
            else _writer.Run(RecordType.Skip, 1);
            i++;
        }
    }
}
