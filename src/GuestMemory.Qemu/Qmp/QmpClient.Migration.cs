using System.Text.Json;
using System.Text.Json.Nodes;

namespace GuestMemory.Qemu;

/// <summary>QEMU's migration state as <c>query-migrate</c> reports it.</summary>
/// <param name="Status">none, setup, active, device, completed, failed, cancelled...</param>
/// <param name="TransferredBytes">Bytes of RAM records sent so far (<c>ram.transferred</c>), or 0.</param>
/// <param name="TotalTime">Milliseconds since the migration began (<c>total-time</c>), or 0.</param>
/// <param name="Downtime">Milliseconds the guest was stopped (<c>downtime</c>, once completed), or 0.</param>
/// <param name="Error">QEMU's error description when it failed, or null.</param>
public sealed record QemuMigrationStatus(string Status, long TransferredBytes, long TotalTime, long Downtime, string? Error)
{
    /// <summary>True when the migration ended (completed, failed or cancelled).</summary>
    public bool Ended => Status is "completed" or "failed" or "cancelled";
}

/// <summary>The migration commands of <see cref="QmpClient"/>: start, watch and cancel a migration, set its capabilities and parameters.</summary>
public sealed partial class QmpClient
{
    /// <summary><c>migrate</c>: starts migrating the guest to <paramref name="uri"/> (<c>tcp:HOST:PORT</c>, <c>exec:CMD</c>); returns at once.</summary>
    public Task MigrateAsync(string uri, CancellationToken cancel = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(uri);
        return ExecuteAsync("migrate", new JsonObject { ["uri"] = uri }, null, cancel);
    }

    /// <summary><c>migrate_cancel</c>: ends a running migration; the guest keeps running here.</summary>
    public Task MigrateCancelAsync(CancellationToken cancel = default) => ExecuteAsync("migrate_cancel", null, null, cancel);

    /// <summary><c>query-migrate</c>.</summary>
    public async Task<QemuMigrationStatus> QueryMigrateAsync(CancellationToken cancel = default)
    {
        JsonElement r = await ExecuteAsync("query-migrate", null, null, cancel).ConfigureAwait(false);
        string status = r.ValueKind == JsonValueKind.Object && r.TryGetProperty("status", out JsonElement s) && s.ValueKind == JsonValueKind.String ? s.GetString()! : "none";
        long transferred = r.ValueKind == JsonValueKind.Object && r.TryGetProperty("ram", out JsonElement ram) && ram.ValueKind == JsonValueKind.Object
            && ram.TryGetProperty("transferred", out JsonElement t) && JsonNumbers.TryInt64(t, out long tv) ? tv : 0;
        return new QemuMigrationStatus(status, transferred, Number(r, "total-time"), Number(r, "downtime"),
            r.ValueKind == JsonValueKind.Object && r.TryGetProperty("error-desc", out JsonElement e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null);
    }

    /// <summary>Polls <c>query-migrate</c> every 10 ms until the migration ended, and returns its last status.</summary>
    /// <exception cref="QemuException"><see cref="QemuError.Timeout"/> when it has not ended within <paramref name="timeout"/>.</exception>
    public async Task<QemuMigrationStatus> WaitForMigrationAsync(TimeSpan timeout, CancellationToken cancel = default)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            QemuMigrationStatus status = await QueryMigrateAsync(cancel).ConfigureAwait(false);
            if (status.Ended) return status;
            if (clock.Elapsed > timeout) throw new QemuException(QemuError.Timeout, $"the migration did not end within {timeout.TotalSeconds:0} s (status {status.Status})");
            await Task.Delay(10, cancel).ConfigureAwait(false);
        }
    }

    /// <summary><c>migrate-set-capabilities</c> for one capability (<c>xbzrle</c>, <c>compress</c>, <c>postcopy-ram</c>, <c>multifd</c>...).</summary>
    public Task SetMigrationCapabilityAsync(string capability, bool enabled, CancellationToken cancel = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(capability);
        return ExecuteAsync("migrate-set-capabilities", new JsonObject
        {
            ["capabilities"] = new JsonArray(new JsonObject { ["capability"] = capability, ["state"] = enabled }),
        }, null, cancel);
    }

    /// <summary><c>migrate-set-parameters</c> for one numeric parameter (<c>max-bandwidth</c> in bytes per second, <c>downtime-limit</c> in ms...).</summary>
    public Task SetMigrationParameterAsync(string parameter, long value, CancellationToken cancel = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(parameter);
        return ExecuteAsync("migrate-set-parameters", new JsonObject { [parameter] = value }, null, cancel);
    }

    private static long Number(JsonElement r, string name) =>
        r.ValueKind == JsonValueKind.Object && r.TryGetProperty(name, out JsonElement v) && JsonNumbers.TryInt64(v, out long n) ? n : 0;
}
