using GuestMemory.State;

namespace GuestMemory.Migration.Source;

/// <summary>
/// A stretch of one pass, as read from guest memory: the records it will become, in the layout's page
/// order (runs of skipped, zero and ballooned pages, and single pages), and a copy of each page with data
/// taken when it was read. Sending works on the copies only: the key of a page is the key of the bytes
/// that will be sent, whatever the guest writes meanwhile (a write after the page was armed marks it
/// dirty, so a later pass sends it again).
/// </summary>
/// <remarks>Reused from pass to pass (<see cref="Clear"/>); allocation-free once its lists have grown.</remarks>
internal sealed class PageBatch
{
    /// <summary>Pages with data per batch: 1 MiB of copies, about one page frame.</summary>
    public const int Capacity = 256;

    private readonly byte[] _copies = GC.AllocateUninitializedArray<byte>(Capacity * Paging.PageSize);

    /// <summary>The records in page order.</summary>
    public List<BatchItem> Items { get; } = new(2 * Capacity);

    /// <summary>Per copied page: RAW or ROM.</summary>
    public RecordType[] Kinds { get; } = new RecordType[Capacity];

    /// <summary>Per copied RAM page: its content key (when content references are in use).</summary>
    public ContentKey[] Keys { get; } = new ContentKey[Capacity];

    /// <summary>The distinct keys asked of the target for this batch.</summary>
    public List<ContentKey> Query { get; } = new(Capacity);

    /// <summary>The target's answer, per key of <see cref="Query"/>.</summary>
    public bool[] Held { get; } = new bool[Capacity];

    /// <summary>The position of the batch's first page in the layout's page order.</summary>
    public ulong Start { get; private set; }

    /// <summary>Pages copied.</summary>
    public int Count { get; private set; }

    public bool IsFull => Count == Capacity;

    /// <summary>The query's number on the connection, when it has one.</summary>
    public uint QueryNumber { get; set; }

    public Span<byte> Copy(int slot) => _copies.AsSpan(slot * Paging.PageSize, Paging.PageSize);

    /// <summary>Adds <paramref name="count"/> pages to a run of ZERO, BALLOONED or SKIP, merged with the run before it when it is of the same kind.</summary>
    public void Run(RecordType kind, uint count)
    {
        if (Items.Count > 0 && Items[^1].Kind == kind && Items[^1].Count <= uint.MaxValue - count)
            Items[^1] = Items[^1] with { Count = Items[^1].Count + count };
        else
            Items.Add(new BatchItem(kind, count, -1));
    }

    /// <summary>Takes the next copy slot (the caller fills <see cref="Copy"/>).</summary>
    public int TakeSlot() => Count++;

    /// <summary>Gives the last slot back (its page turned out all zero).</summary>
    public void ReturnSlot() => Count--;

    /// <summary>Adds the page in <paramref name="slot"/> as the next record.</summary>
    public void Page(int slot, RecordType kind)
    {
        Kinds[slot] = kind;
        Items.Add(new BatchItem(kind, 1, slot));
    }

    /// <summary>Empties the batch for pages from <paramref name="start"/> on.</summary>
    public void Clear(ulong start)
    {
        Start = start;
        Items.Clear();
        Query.Clear();
        Count = 0;
    }
}

/// <summary>One record of a batch: a run (<see cref="Count"/> pages) or one copied page (<see cref="Slot"/>).</summary>
internal readonly record struct BatchItem(RecordType Kind, uint Count, int Slot);
