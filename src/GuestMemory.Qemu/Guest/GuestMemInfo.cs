using System.Globalization;

namespace GuestMemory.Qemu;

/// <summary>A guest's /proc/meminfo, every field in bytes (fields given in kB are converted; counts stay counts).</summary>
public sealed record GuestMemInfo(IReadOnlyDictionary<string, long> Fields)
{
    /// <summary>RAM the guest kernel manages.</summary>
    public long TotalBytes => Get("MemTotal");
    /// <summary>Unused RAM.</summary>
    public long FreeBytes => Get("MemFree");
    /// <summary>RAM the guest could give to new work without swapping.</summary>
    public long AvailableBytes => Get("MemAvailable");
    /// <summary>Page cache, tmpfs included.</summary>
    public long CachedBytes => Get("Cached");
    /// <summary>tmpfs and shared memory.</summary>
    public long ShmemBytes => Get("Shmem");

    /// <summary>A field by its meminfo name.</summary>
    /// <exception cref="QemuException"><see cref="QemuError.GuestChannelBroken"/> when the guest did not report it.</exception>
    public long Get(string name) => Fields.TryGetValue(name, out long v) ? v
        : throw new QemuException(QemuError.GuestChannelBroken, $"the guest's meminfo has no {name}");

    /// <summary>Parses meminfo lines ("MemTotal:  123456 kB"); lines that do not parse are skipped.</summary>
    public static GuestMemInfo Parse(IEnumerable<string> lines)
    {
        ArgumentNullException.ThrowIfNull(lines);
        var fields = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (string line in lines)
        {
            int colon = line.IndexOf(':');
            if (colon <= 0) continue;
            string[] value = line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (value.Length == 0 || !long.TryParse(value[0], NumberStyles.None, CultureInfo.InvariantCulture, out long n)) continue;
            bool kb = value.Length > 1 && value[1] == "kB";
            if (kb && n > long.MaxValue / 1024) continue;
            fields[line[..colon]] = kb ? n * 1024 : n;
        }
        return new GuestMemInfo(fields);
    }
}
