using System.Text.Json;

namespace GuestMemory.Qemu;

/// <summary>
/// An asynchronous QMP event (<c>{"event": NAME, "data": {...}, "timestamp": {...}}</c>), such as
/// <c>STOP</c>, <c>RESUME</c>, <c>SHUTDOWN</c>, <c>BALLOON_CHANGE</c> or <c>MIGRATION</c>. Events this
/// layer does not know are delivered the same way.
/// </summary>
/// <param name="Name">The event's name.</param>
/// <param name="Data">Its <c>data</c> member (an undefined element when it has none); owned by the event.</param>
/// <param name="Timestamp">QEMU's time stamp, or null when absent or malformed.</param>
public sealed record QmpEvent(string Name, JsonElement Data, DateTimeOffset? Timestamp)
{
    internal static QmpEvent From(string name, JsonElement root)
    {
        JsonElement data = root.TryGetProperty("data", out JsonElement d) ? d.Clone() : default;
        DateTimeOffset? time = null;
        if (root.TryGetProperty("timestamp", out JsonElement t) && t.ValueKind == JsonValueKind.Object
            && t.TryGetProperty("seconds", out JsonElement s) && JsonNumbers.TryInt64(s, out long seconds)
            && t.TryGetProperty("microseconds", out JsonElement u) && JsonNumbers.TryInt64(u, out long micro)
            && seconds is >= 0 and < 253402300799 && micro is >= 0 and < 1_000_000)
            time = DateTimeOffset.FromUnixTimeSeconds(seconds).AddTicks(micro * 10);
        return new QmpEvent(name, data, time);
    }
}

/// <summary>The guest's run state from <c>query-status</c>.</summary>
/// <param name="Status">QEMU's name for it: <c>running</c>, <c>paused</c>, <c>prelaunch</c>, <c>shutdown</c>, <c>inmigrate</c>, <c>postmigrate</c>, ...</param>
/// <param name="Running">True while the vCPUs run.</param>
public sealed record QemuRunState(string Status, bool Running);

/// <summary>
/// The guest's own view of its memory, from the balloon driver's statistics (<c>qom-get</c> of
/// <c>guest-stats</c> on the balloon device). A value the guest has not reported is null (QEMU reports
/// -1 until the first poll, or for statistics the driver does not send).
/// </summary>
/// <param name="LastUpdate">When the guest last sent statistics (null before the first poll).</param>
/// <param name="Stats">Every statistic by QEMU's name (<c>stat-free-memory</c>, <c>stat-available-memory</c>, <c>stat-total-memory</c>, <c>stat-disk-caches</c>, ...), in bytes or counts.</param>
public sealed record BalloonGuestStats(DateTimeOffset? LastUpdate, IReadOnlyDictionary<string, long?> Stats)
{
    /// <summary>Free memory in bytes.</summary>
    public long? FreeBytes => Get("stat-free-memory");
    /// <summary>Memory the guest could use without swapping, in bytes.</summary>
    public long? AvailableBytes => Get("stat-available-memory");
    /// <summary>Total memory the guest sees, in bytes.</summary>
    public long? TotalBytes => Get("stat-total-memory");
    /// <summary>Page cache the guest could drop, in bytes.</summary>
    public long? DiskCacheBytes => Get("stat-disk-caches");

    private long? Get(string name) => Stats.TryGetValue(name, out long? v) ? v : null;
}
