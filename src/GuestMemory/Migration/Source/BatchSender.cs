using System.Runtime.InteropServices;
using GuestMemory.State;

namespace GuestMemory.Migration.Source;

/// <summary>
/// Turns batches into frames in two steps, so that the target's answer to one batch's hash query can
/// travel while the next batch is read: <see cref="Prepare"/> keys every RAM page with data and asks the
/// target about the contents neither side has settled yet; <see cref="Finish"/> takes the answer and
/// writes each page as SKIP (its staged copy on the target already has this content), CONTENT_REF (the
/// target holds it), DUPLICATE (sent earlier in this image for another page) or RAW.
/// </summary>
/// <remarks>
/// The choice is made at <see cref="Finish"/>, in page order, from what is known then: a content the
/// previous batch sent as RAW is a DUPLICATE here even if the query went out before. Not thread-safe.
/// </remarks>
internal sealed class BatchSender(MigrationConnection connection, StateWriter pages, SentContents contents, bool references)
{
    private readonly HashSet<ContentKey> _asked = [];
    private readonly byte[] _fields = new byte[RecordParser.DuplicateFieldBytes];
    private uint _queries;
    private PassRecords _records;

    /// <summary>What the current pass wrote so far; <see cref="TakeRecords"/> starts the next pass's count.</summary>
    public PassRecords TakeRecords()
    {
        PassRecords records = _records;
        _records = default;
        return records;
    }

    /// <summary>
    /// Keys the batch's RAM pages and, when <paramref name="ask"/>, sends the hash query for the contents
    /// the target may hold (a move's final pass does not ask: its pages are what the guest just wrote, rarely
    /// held elsewhere, and a round trip there is downtime).
    /// </summary>
    public void Prepare(PageBatch batch, bool ask)
    {
        if (!references) return;
        _asked.Clear();
        for (int slot = 0; slot < batch.Count; slot++)
        {
            if (batch.Kinds[slot] != RecordType.Raw) continue;
            ContentKey key = ContentKey.Of(batch.Copy(slot));
            batch.Keys[slot] = key;
            if (!contents.IsHeld(key) && !contents.TryStagedAt(key, out _) && _asked.Add(key)) batch.Query.Add(key);
        }
        if (!ask) batch.Query.Clear();
        if (batch.Query.Count == 0) return;
        batch.QueryNumber = _queries++;
        HashQuery.WriteQuery(connection.Payload(), batch.QueryNumber, CollectionsMarshal.AsSpan(batch.Query));
        connection.Send(MessageType.HashQuery);
    }

    /// <summary>Reads the batch's answer (if it asked) and writes its records.</summary>
    public void Finish(PageBatch batch)
    {
        if (batch.Query.Count > 0) ReadAnswer(batch);
        ulong position = batch.Start;
        foreach (BatchItem item in batch.Items)
        {
            Write(batch, item, position);
            position += item.Count;
        }
    }

    private void ReadAnswer(PageBatch batch)
    {
        Frame answer = connection.Expect(MessageType.HashAnswer);
        Span<bool> held = batch.Held.AsSpan(0, batch.Query.Count);
        HashQuery.ReadAnswer(answer.Payload, batch.QueryNumber, held);
        for (int i = 0; i < held.Length; i++)
            if (held[i]) contents.Held(batch.Query[i]);
    }

    private void Write(PageBatch batch, BatchItem item, ulong position)
    {
        switch (item.Kind)
        {
            case RecordType.Skip:
                pages.Run(RecordType.Skip, item.Count);
                _records.Skipped += item.Count;
                return;
            case RecordType.Zero or RecordType.Ballooned:
                pages.Run(item.Kind, item.Count);
                if (item.Kind == RecordType.Zero) _records.Zero += item.Count;
                else _records.Ballooned += item.Count;
                break;
            case RecordType.Rom:
                pages.Page(RecordType.Rom, batch.Copy(item.Slot));
                _records.Rom++;
                break;
            default:
                WriteRam(batch, item.Slot, position);
                return;
        }
        if (references) contents.Overwritten(position, item.Count);
    }

    private void WriteRam(PageBatch batch, int slot, ulong position)
    {
        if (!references)
        {
            pages.Page(RecordType.Raw, batch.Copy(slot));
            _records.Raw++;
            return;
        }
        ContentKey key = batch.Keys[slot];
        key.WriteTo(_fields);
        if (contents.StillHolds(position, key))
        {
            pages.Run(RecordType.Skip, 1);
            _records.Skipped++;
        }
        else if (contents.IsHeld(key))
        {
            pages.Fields(RecordType.ContentRef, _fields.AsSpan(0, RecordParser.ContentRefFieldBytes));
            _records.References++;
            contents.Overwritten(position, 1);
        }
        else if (contents.TryStagedAt(key, out ulong at))
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(_fields.AsSpan(ContentKey.Bytes), at);
            pages.Fields(RecordType.Duplicate, _fields);
            _records.Duplicates++;
            contents.Held(key);
            contents.Overwritten(position, 1);
        }
        else
        {
            pages.Page(RecordType.Raw, batch.Copy(slot));
            _records.Raw++;
            contents.SentRaw(position, key);
        }
    }
}
