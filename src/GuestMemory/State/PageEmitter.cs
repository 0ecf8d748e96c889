using System.Buffers.Binary;
using GuestMemory.Fusion;
using GuestMemory.Host;
using GuestMemory.Phys;

namespace GuestMemory.State;

/// <summary>
/// Writes the record of one guest page, reading the page the way every reader of guest memory must:
/// the entry is loaded and the bytes copied inside one access section, so the host page cannot be
/// given to anyone else meanwhile (<see cref="AccessEpoch"/>). The copy goes straight into the block
/// buffer; stream I/O happens only outside the section.
/// </summary>
/// <remarks>
/// <para><b>Shared pages.</b> The first page backed by a shared host page writes a SHARED record with
/// the content and its key (the 64-bit <see cref="PageHash"/> and a dense index); later pages backed by
/// the same host page write SHARED_REF with the index. A host page id could in principle be freed and
/// reused for another shared content during a save (a live save, or compaction running beside a paused
/// one); so a reference is written only when the page's hash also equals the recorded one, and a page
/// whose hash differs is written as a new content. Restores byte-exact unless a freed-and-reused page
/// id and a 64-bit hash collision coincide.</para>
/// <para>Not thread-safe: one saver owns it.</para>
/// </remarks>
internal sealed class PageEmitter(HostMemory host, StateWriter writer)
{
    private readonly Dictionary<uint, (uint Index, ulong Hash)> _contents = [];

    /// <summary>SHARED records written (the contents' indices are 0 up to this).</summary>
    public uint SharedContents { get; private set; }

    /// <summary>Pages written per class, over all passes.</summary>
    public RecordCounts Written { get; } = new();

    /// <summary>
    /// Starts a later pass: its pages may refer only to contents written in the same pass, so a restore can
    /// let go of the earlier passes' contents at each PASS record and its staging stays bounded.
    /// </summary>
    public void BeginPass() => _contents.Clear();

    /// <summary>Writes the record of page <paramref name="index"/> of <paramref name="range"/> and returns its class.</summary>
    public PageClass Emit(MemoryRange range, int index)
    {
        writer.EnsureRoom();
        uint reference = uint.MaxValue;
        PageClass cls;
        AccessEpoch.Section section = AccessEpoch.Enter();
        try
        {
            ulong e = GuestPhysicalMemory.ReadEntry(range, index);
            cls = PageClassifier.Classify(range, e, host);
            if (cls is PageClass.Raw or PageClass.Rom)
            {
                PageClassifier.Content(host, e).CopyTo(writer.BeginPage(cls == PageClass.Rom ? RecordType.Rom : RecordType.Raw, 0));
                writer.EndPage();
            }
            else if (cls == PageClass.Shared)
            {
                reference = WriteShared(e);
            }
        }
        finally
        {
            section.Exit();
        }
        if (cls == PageClass.Zero) writer.Run(RecordType.Zero, 1);
        else if (cls == PageClass.Ballooned) writer.Run(RecordType.Ballooned, 1);
        else if (reference != uint.MaxValue) writer.SharedRef(reference);
        Written.Add(cls, reference != uint.MaxValue);
        return cls;
    }

    /// <summary>Inside the section: a SHARED record for a content not written yet; else the index to refer to.</summary>
    private uint WriteShared(ulong entry)
    {
        ReadOnlySpan<byte> content = PageClassifier.Content(host, entry);
        ulong hash = PageHash.Compute(content);
        uint page = GuestPage.Page(entry).Value;
        if (_contents.TryGetValue(page, out (uint Index, ulong Hash) known) && known.Hash == hash) return known.Index;
        uint index = SharedContents++;
        _contents[page] = (index, hash);
        Span<byte> record = writer.BeginPage(RecordType.Shared, SavedStateFormat.SharedFieldBytes);
        BinaryPrimitives.WriteUInt64LittleEndian(record, hash);
        BinaryPrimitives.WriteUInt32LittleEndian(record[sizeof(ulong)..], index);
        content.CopyTo(record[SavedStateFormat.SharedFieldBytes..]);
        writer.EndPage();
        return uint.MaxValue;
    }
}
