namespace GuestMemory.Migration.Source;

/// <summary>
/// The source's exact picture of which contents the target can produce without their bytes, for the
/// image being sent ("identical pages never cross the wire twice"):
/// <list type="bullet">
/// <item><b>held</b>: contents in the target's content table for this image (it answered a query with
/// "held", or it turned a duplicate into a shared page): a page with one is sent as CONTENT_REF;</item>
/// <item><b>staged</b>: contents the source sent as RAW in this image, with the position whose staged
/// page still holds them: a later page with the same content is sent as DUPLICATE of that position, and
/// the target moves the staged page onto a shared page that both then use (it becomes held).</item>
/// </list>
/// A position sent again (any record but SKIP) no longer holds its old content on the target, so it is
/// forgotten as the source of its old key: both sides stay in step without any message about it. A
/// page sent again with the content its own staged copy already has is skipped.
/// </summary>
/// <remarks>One per image (a move, or one mirror checkpoint); the session's thread uses it.</remarks>
internal sealed class SentContents(long pages)
{
    private readonly HashSet<ContentKey> _held = [];
    private readonly Dictionary<ContentKey, ulong> _stagedAt = [];
    private readonly Dictionary<ulong, ContentKey> _keyAt = [];
    private readonly ulong[] _hasKey = new ulong[(pages + 63) / 64];

    /// <summary>True when the target holds the content: send a CONTENT_REF.</summary>
    public bool IsHeld(ContentKey key) => _held.Contains(key);

    /// <summary>The target holds the content from now on (a query was answered "held", or a DUPLICATE was sent).</summary>
    public void Held(ContentKey key) => _held.Add(key);

    /// <summary>
    /// True when page <paramref name="position"/> was sent as RAW with this very content and not sent
    /// again since: the target's staged page already is what the page holds (the guest rewrote it with the
    /// same bytes, or wrote it after it was armed but before it was read), so it can be skipped.
    /// </summary>
    public bool StillHolds(ulong position, ContentKey key) => _keyAt.TryGetValue(position, out ContentKey held) && held == key;

    /// <summary>Where a page with this content was sent as RAW in this image and is still staged, if anywhere.</summary>
    public bool TryStagedAt(ContentKey key, out ulong position) => _stagedAt.TryGetValue(key, out position);

    /// <summary>Page <paramref name="position"/> was sent as RAW with <paramref name="key"/>.</summary>
    public void SentRaw(ulong position, ContentKey key)
    {
        Overwritten(position, 1);
        _keyAt[position] = key;
        _hasKey[position >> 6] |= 1UL << (int)position;
        _stagedAt.TryAdd(key, position);
    }

    /// <summary>Pages [<paramref name="position"/>, +<paramref name="count"/>) were sent again: they no longer hold what they held.</summary>
    public void Overwritten(ulong position, uint count)
    {
        ulong end = position + count;
        while (position < end)
        {
            ulong word = _hasKey[position >> 6] >> (int)(position & 63);
            if (word == 0)
            {
                position = (position | 63) + 1; // nothing recorded in the rest of this word
                continue;
            }
            position += (ulong)System.Numerics.BitOperations.TrailingZeroCount(word);
            if (position >= end) break;
            Forget(position);
            position++;
        }
    }

    private void Forget(ulong position)
    {
        _hasKey[position >> 6] &= ~(1UL << (int)position);
        if (!_keyAt.Remove(position, out ContentKey key)) return;
        if (_stagedAt.TryGetValue(key, out ulong at) && at == position) _stagedAt.Remove(key);
    }
}
