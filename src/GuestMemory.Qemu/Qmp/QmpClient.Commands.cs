using System.Text.Json;
using System.Text.Json.Nodes;

namespace GuestMemory.Qemu;

/// <summary>The typed QMP commands of <see cref="QmpClient"/>; each fails as <see cref="ExecuteAsync"/> does.</summary>
public sealed partial class QmpClient
{
    /// <summary><c>query-status</c>: whether the vCPUs run, and QEMU's name for the state.</summary>
    public async Task<QemuRunState> QueryStatusAsync(CancellationToken cancel = default)
    {
        JsonElement r = await ExecuteAsync("query-status", null, null, cancel).ConfigureAwait(false);
        return new QemuRunState(String(r, "status", "query-status"), Bool(r, "running", "query-status"));
    }

    /// <summary><c>stop</c>: pauses the vCPUs (guest RAM stops changing, apart from DMA of devices).</summary>
    public Task StopAsync(CancellationToken cancel = default) => ExecuteAsync("stop", null, null, cancel);

    /// <summary><c>cont</c>: resumes the vCPUs.</summary>
    public Task ContAsync(CancellationToken cancel = default) => ExecuteAsync("cont", null, null, cancel);

    /// <summary>
    /// <c>pmemsave</c>: QEMU writes <paramref name="size"/> bytes of guest-physical memory from
    /// <paramref name="address"/> to <paramref name="path"/> (a path QEMU can write; made absolute
    /// here) and answers when the file is written.
    /// </summary>
    public Task PmemsaveAsync(long address, long size, string path, TimeSpan? timeout = null, CancellationToken cancel = default)
    {
        if (address < 0 || size <= 0) throw new QemuException(QemuError.InvalidArgument, $"pmemsave needs address >= 0 and size > 0, not {address} and {size}");
        ArgumentException.ThrowIfNullOrEmpty(path);
        return ExecuteAsync("pmemsave", new JsonObject { ["val"] = address, ["size"] = size, ["filename"] = Path.GetFullPath(path) }, timeout, cancel);
    }

    /// <summary><c>quit</c>: QEMU answers, then exits (the connection then ends).</summary>
    public Task QuitAsync(CancellationToken cancel = default) => ExecuteAsync("quit", null, null, cancel);

    /// <summary><c>balloon</c>: asks the guest's balloon driver to leave the guest <paramref name="bytes"/> of RAM.</summary>
    /// <exception cref="QmpCommandException"><c>DeviceNotActive</c> when the guest has no balloon driver loaded.</exception>
    public Task BalloonAsync(long bytes, CancellationToken cancel = default)
    {
        if (bytes <= 0) throw new QemuException(QemuError.InvalidArgument, $"a balloon target must be positive, not {bytes}");
        return ExecuteAsync("balloon", new JsonObject { ["value"] = bytes }, null, cancel);
    }

    /// <summary><c>query-balloon</c>: the RAM the guest has now, in bytes (its size less the balloon).</summary>
    public async Task<long> QueryBalloonAsync(CancellationToken cancel = default)
    {
        JsonElement r = await ExecuteAsync("query-balloon", null, null, cancel).ConfigureAwait(false);
        return Long(r, "actual", "query-balloon");
    }

    /// <summary><c>qom-get</c>: a property of a QOM object (such as <c>/machine/peripheral/balloon0</c>).</summary>
    public Task<JsonElement> QomGetAsync(string path, string property, CancellationToken cancel = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentException.ThrowIfNullOrEmpty(property);
        return ExecuteAsync("qom-get", new JsonObject { ["path"] = path, ["property"] = property }, null, cancel);
    }

    /// <summary><c>qom-set</c>: sets a property of a QOM object.</summary>
    public Task QomSetAsync(string path, string property, JsonNode value, CancellationToken cancel = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentException.ThrowIfNullOrEmpty(property);
        ArgumentNullException.ThrowIfNull(value);
        return ExecuteAsync("qom-set", new JsonObject { ["path"] = path, ["property"] = property, ["value"] = value.DeepClone() }, null, cancel);
    }

    /// <summary>Makes the balloon driver send its statistics every <paramref name="seconds"/> (0 stops them).</summary>
    public Task SetBalloonStatsIntervalAsync(string balloonPath, int seconds, CancellationToken cancel = default)
    {
        if (seconds < 0) throw new QemuException(QemuError.InvalidArgument, $"a polling interval cannot be negative ({seconds})");
        return QomSetAsync(balloonPath, "guest-stats-polling-interval", JsonValue.Create(seconds), cancel);
    }

    /// <summary>The balloon driver's last statistics (<c>qom-get BALLOON guest-stats</c>).</summary>
    public async Task<BalloonGuestStats> GetBalloonStatsAsync(string balloonPath, CancellationToken cancel = default)
    {
        JsonElement r = await QomGetAsync(balloonPath, "guest-stats", cancel).ConfigureAwait(false);
        if (r.ValueKind != JsonValueKind.Object || !r.TryGetProperty("stats", out JsonElement stats) || stats.ValueKind != JsonValueKind.Object)
            throw new QemuException(QemuError.QmpProtocolError, $"guest-stats has no stats object: {r.GetRawText()}");
        var values = new Dictionary<string, long?>(StringComparer.Ordinal);
        foreach (JsonProperty p in stats.EnumerateObject())
            values[p.Name] = JsonNumbers.TryInt64(p.Value, out long v) && v >= 0 ? v : null;
        long updated = r.TryGetProperty("last-update", out JsonElement u) && JsonNumbers.TryInt64(u, out long t) ? t : 0;
        return new BalloonGuestStats(updated > 0 ? DateTimeOffset.FromUnixTimeSeconds(updated) : null, values);
    }

    private static string String(JsonElement r, string name, string command) =>
        r.ValueKind == JsonValueKind.Object && r.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.String ? v.GetString()!
        : throw new QemuException(QemuError.QmpProtocolError, $"{command} returned no string '{name}': {r.GetRawText()}");

    private static bool Bool(JsonElement r, string name, string command) =>
        r.ValueKind == JsonValueKind.Object && r.TryGetProperty(name, out JsonElement v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean()
        : throw new QemuException(QemuError.QmpProtocolError, $"{command} returned no boolean '{name}': {r.GetRawText()}");

    private static long Long(JsonElement r, string name, string command) =>
        r.ValueKind == JsonValueKind.Object && r.TryGetProperty(name, out JsonElement v) && JsonNumbers.TryInt64(v, out long n) ? n
        : throw new QemuException(QemuError.QmpProtocolError, $"{command} returned no integer '{name}': {r.GetRawText()}");
}
