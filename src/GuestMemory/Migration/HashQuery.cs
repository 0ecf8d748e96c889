namespace GuestMemory.Migration;

/// <summary>
/// QURY and ANSR: the source names the contents of pages it is about to send (their <see cref="ContentKey"/>s,
/// each once); the target answers, in the same order, a bitmap of those it holds and will keep for the
/// rest of the image, so the source sends those as CONTENT_REF instead of 4 KiB of bytes.
/// </summary>
internal static class HashQuery
{
    public static void WriteQuery(WireWriter w, uint batch, ReadOnlySpan<ContentKey> keys)
    {
        w.U32(batch).U32((uint)keys.Length);
        foreach (ContentKey key in keys) key.WriteTo(w.Take(ContentKey.Bytes));
    }

    /// <summary>Reads a query into <paramref name="keys"/>; returns its batch number.</summary>
    public static uint ReadQuery(ReadOnlySpan<byte> payload, List<ContentKey> keys)
    {
        var r = new WireReader(payload, "HASH_QUERY");
        uint batch = r.U32();
        uint count = r.U32();
        if (count is 0 or > MigrationProtocol.MaxQueryKeys) throw MigrationErrors.Corrupt($"a hash query of {count} keys");
        keys.Clear();
        for (int i = 0; i < count; i++) keys.Add(ContentKey.Read(r.Bytes(ContentKey.Bytes)));
        r.End();
        return batch;
    }

    public static void WriteAnswer(WireWriter w, uint batch, ReadOnlySpan<bool> held)
    {
        w.U32(batch).U32((uint)held.Length);
        Span<byte> bits = w.Take((held.Length + 7) / 8);
        bits.Clear();
        for (int i = 0; i < held.Length; i++)
            if (held[i]) bits[i >> 3] |= (byte)(1 << (i & 7));
    }

    /// <summary>Reads the answer to query <paramref name="batch"/> of <paramref name="held"/>.Length keys into <paramref name="held"/>.</summary>
    public static void ReadAnswer(ReadOnlySpan<byte> payload, uint batch, Span<bool> held)
    {
        var r = new WireReader(payload, "HASH_ANSWER");
        uint answered = r.U32();
        uint count = r.U32();
        if (answered != batch || count != held.Length) throw MigrationErrors.Corrupt($"the answer to query {answered} of {count} keys came where query {batch} of {held.Length} was due");
        ReadOnlySpan<byte> bits = r.Bytes((held.Length + 7) / 8);
        r.End();
        for (int i = 0; i < held.Length; i++) held[i] = (bits[i >> 3] & (1 << (i & 7))) != 0;
    }
}
