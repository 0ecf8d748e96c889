using GuestMemory.Gmm;
using GuestMemory.Host;
using GuestMemory.Phys;

namespace GuestMemory.State;

/// <summary>
/// Tracks which pages of a running VM must be sent again since a pass last sent them ("dirty since pass
/// N"), for the live save and, later, for migration's pre-copy passes. It never writes an entry itself:
/// it arms pages through <see cref="PageUpdateBatch"/> requests that the VM runs under its lock, each
/// applied only if the entry is still the one it saw.
/// </summary>
/// <remarks>
/// <para><b>Arming.</b> Every page a pass will send is armed first: its DIRTY flag is cleared and an
/// Allocated page becomes Write-Monitored. Then the tracker waits for every access section that began
/// before the arming (<see cref="AccessEpoch.WaitForReaders"/>), and only then are the pages read. A
/// writer that loaded the entry before the arming has finished by then; every later write finds the
/// page monitored (or zero, or shared, which write through the same slow path) and sets DIRTY under the
/// VM lock. So a page without DIRTY at the next pass was not written since it was read.</para>
/// <para><b>What else sends a page again.</b> Some transitions make fresh entries without DIRTY: the
/// balloon (inflate, deflate) and reset. The tracker remembers the class each page was sent as and
/// sends it again when it now is zero or ballooned but was sent otherwise. A page mapped for writing
/// can change through its mapping at any time, so mapped pages are sent in every pass and never armed.
/// ROM pages stay Allocated (ROM is never monitored): a shadow-mode write goes to the ROM page under the
/// VM lock and sets DIRTY there, so clearing DIRTY is all the arming a ROM page needs.</para>
/// <para><b>Final pass.</b> The caller pauses the writers (vCPUs, device DMA, mapping holders) before
/// it: the pages read then are exact, so the image is each page as it was at that moment.</para>
/// <para>Pages are left write-monitored when the tracker ends: the next guest write to each costs one
/// slow path, and page fusion treats them as armed by another layer.</para>
/// </remarks>
internal sealed class DirtyPageTracker : IDisposable
{
    private const int Segment = 512;
    private readonly GuestPhysicalMemory _memory;
    private readonly MemoryRange[] _ranges;
    private readonly PageClass[][] _sent;
    private readonly ulong[][] _pending;
    private readonly PageUpdateBatch _batch = new(Segment);
    private readonly List<int> _retry = new(Segment);
    private bool _disposed;

    /// <exception cref="InvalidOperationException">Another live save or migration of this VM is running.</exception>
    public DirtyPageTracker(GuestPhysicalMemory memory, MemoryRange[] ranges)
    {
        if (!memory.TryClaimDirtyTracking()) throw new InvalidOperationException("a live save or migration of this VM is already running");
        _memory = memory;
        _ranges = ranges;
        _sent = ranges.Select(r => new PageClass[r.Entries.Length]).ToArray();
        _pending = ranges.Select(r => new ulong[(r.Entries.Length + 63) / 64]).ToArray();
    }

    /// <summary>
    /// Chooses and arms the pages of the next pass, then waits until they are safe to read. The first
    /// pass takes every page. Returns how many pages it took.
    /// </summary>
    /// <remarks>Must not be called inside an access section or under the VM lock (it waits for readers).</remarks>
    public long PreparePass(bool first)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        long taken = 0;
        for (int r = 0; r < _ranges.Length; r++)
        {
            MemoryRange range = _ranges[r];
            for (int start = 0; start < range.Entries.Length; start += Segment)
                taken += ArmSegment(r, start, Math.Min(range.Entries.Length, start + Segment), first);
        }
        AccessEpoch.WaitForReaders(AccessEpoch.Current);
        return taken;
    }

    /// <summary>
    /// How many pages the next pass would take now, without arming anything: what the guest dirtied since
    /// the pages were last armed. A migration weighs it against the bandwidth before deciding to pause.
    /// </summary>
    public long CountPending()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        long pending = 0;
        for (int r = 0; r < _ranges.Length; r++)
        {
            PageEntryTable entries = _ranges[r].Entries;
            PageClass[] sent = _sent[r];
            for (int i = 0; i < entries.Length; i++)
                if (MustResend(GuestPhysicalMemory.ReadEntry(_ranges[r], i), sent[i])) pending++;
        }
        return pending;
    }

    /// <summary>True when page <paramref name="index"/> of range <paramref name="range"/> is in this pass.</summary>
    public bool IsPending(int range, int index) => (_pending[range][index >> 6] & (1UL << index)) != 0;

    /// <summary>The 64 pending bits holding page <paramref name="index"/> (for skipping unchanged stretches).</summary>
    public ulong PendingWord(int range, int index) => _pending[range][index >> 6];

    /// <summary>Records what page <paramref name="index"/> was sent as.</summary>
    public void Sent(int range, int index, PageClass cls) => _sent[range][index] = cls;

    /// <summary>The figures of the image as sent so far.</summary>
    public ImageCounts SentCounts()
    {
        var counts = new ImageCounts();
        foreach (PageClass[] classes in _sent)
            foreach (PageClass cls in classes) counts.Add(cls);
        return counts;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _memory.ReleaseDirtyTracking();
    }

    private int ArmSegment(int r, int start, int end, bool first)
    {
        MemoryRange range = _ranges[r];
        int taken = 0;
        for (int i = start; i < end; i++)
        {
            ulong e = GuestPhysicalMemory.ReadEntry(range, i);
            if (!(first || MustResend(e, _sent[r][i])))
            {
                _pending[r][i >> 6] &= ~(1UL << i);
                continue;
            }
            _pending[r][i >> 6] |= 1UL << i;
            taken++;
            AddArming(range, i, e);
        }
        SendArming(range);
        return taken;
    }

    private static bool MustResend(ulong e, PageClass sent) =>
        GuestPage.IsDirty(e) || GuestPage.IsLocked(e) || GuestPage.State(e) switch
        {
            GuestPageState.Zero => sent != PageClass.Zero,
            GuestPageState.Ballooned => sent != PageClass.Ballooned,
            _ => false,
        };

    /// <summary>Queues the arming of one page unless it is mapped or already armed.</summary>
    private void AddArming(MemoryRange range, int index, ulong e)
    {
        if (GuestPage.IsLocked(e)) return;
        bool monitor = GuestPage.State(e) == GuestPageState.Allocated && GuestPage.Type(e) == GuestPageType.Ram;
        ulong armed = (monitor ? GuestPage.WithState(e, GuestPageState.WriteMonitored) : e) & ~GuestPage.DirtyFlag;
        if (armed != e) _batch.Add(range.Start + ((ulong)index << Paging.PageShift), e, armed, PageId.Nil);
    }

    /// <summary>Sends the armings; one refused because the entry changed meanwhile is rebuilt from the new entry and sent again.</summary>
    private void SendArming(MemoryRange range)
    {
        while (_batch.Count > 0)
        {
            if (_memory.IsDestroyed) throw new GmmException(GmmError.VmDestroyed, $"{_memory.Vm} was destroyed during the save");
            _batch.SendTo(_memory);
            _retry.Clear();
            foreach (ref readonly PageUpdate u in _batch.Updates.AsSpan(0, _batch.Count))
                if (!u.Applied) _retry.Add((int)((u.Address - range.Start) >> Paging.PageShift));
            _batch.Clear();
            foreach (int index in _retry) AddArming(range, index, GuestPhysicalMemory.ReadEntry(range, index));
        }
    }
}
