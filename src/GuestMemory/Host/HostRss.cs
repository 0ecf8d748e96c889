using Microsoft.Win32.SafeHandles;

namespace GuestMemory.Host;

/// <summary>
/// The process's real resident set size, read from <c>/proc/self/smaps_rollup</c> (the kernel's own
/// sum over every mapping), or cheaply from the kernel's resident counters (<see cref="ReadCounterBytes"/>),
/// so a test or the balloon controller sees what the host really pays.
/// </summary>
internal static class HostRss
{
    /// <summary>Resident bytes of this process now (anonymous, file and shared memory together).</summary>
    public static long ReadBytes() => ReadField("Rss:");

    /// <summary>Resident anonymous bytes (guest RAM lives here).</summary>
    public static long ReadAnonymousBytes() => ReadField("Anonymous:");

    /// <summary>
    /// Resident bytes of the mappings that overlap [<paramref name="start"/>, +<paramref name="length"/>),
    /// from <c>/proc/self/smaps</c>: the kernel's count for that memory alone, so the runtime's own heap
    /// growing or shrinking meanwhile does not show. Mappings partly inside count whole, so pass a range
    /// that is a whole mapping (a <see cref="HostMemory"/> reservation is one). Reads a file of a few
    /// hundred KiB: for tests and tools, not for every period.
    /// </summary>
    public static long ReadRangeBytes(nint start, long length)
    {
        if (!OperatingSystem.IsLinux()) throw new GmmException(GmmError.NotSupported, "per-mapping RSS is read from /proc/self/smaps, which only Linux has");
        ulong from = (ulong)start, to = from + (ulong)length;
        long kib = 0;
        bool inside = false;
        foreach (string line in File.ReadLines("/proc/self/smaps"))
        {
            int dash = line.IndexOf('-');
            int space = line.IndexOf(' ');
            if (dash > 0 && space > dash && ulong.TryParse(line.AsSpan(0, dash), System.Globalization.NumberStyles.HexNumber, null, out ulong low)
                && ulong.TryParse(line.AsSpan(dash + 1, space - dash - 1), System.Globalization.NumberStyles.HexNumber, null, out ulong high))
                inside = low < to && high > from; // a mapping's header line
            else if (inside && line.StartsWith("Rss:", StringComparison.Ordinal))
                kib += long.Parse(line.AsSpan(4).Trim().TrimEnd("kB").Trim(), System.Globalization.CultureInfo.InvariantCulture);
        }
        return kib * 1024;
    }

    /// <summary>
    /// Resident bytes of this process from the kernel's resident-set counters (<c>/proc/self/statm</c>,
    /// the VmRSS figure): the same memory as <see cref="ReadBytes"/>, but read from counters instead of
    /// a walk over every page table, so it costs about 0.1 ms where smaps_rollup takes milliseconds at a
    /// few hundred MiB. Exact to within the kernel's per-CPU counter batches (a few hundred KiB). For
    /// readers that look often: the balloon controller every period, samplers.
    /// </summary>
    public static long ReadCounterBytes()
    {
        Span<byte> buffer = stackalloc byte[256];
        return ParseStatmResidentPages(ReadProcFile("/proc/self/statm", buffer)) * Environment.SystemPageSize;
    }

    /// <summary>The second field of a statm text ("size resident shared ..."), in pages.</summary>
    internal static long ParseStatmResidentPages(ReadOnlySpan<byte> text)
    {
        int space = text.IndexOf((byte)' ');
        if (space < 0) throw new GmmException(GmmError.NotSupported, "statm has no resident field");
        long value = 0;
        int digits = 0;
        foreach (byte b in text[(space + 1)..])
        {
            if (b is < (byte)'0' or > (byte)'9') break;
            value = value * 10 + (b - '0');
            digits++;
        }
        if (digits == 0) throw new GmmException(GmmError.NotSupported, "statm has no resident field");
        return value;
    }

    private static long ReadField(string field)
    {
        Span<byte> buffer = stackalloc byte[4096];
        return ParseKiloBytes(ReadProcFile("/proc/self/smaps_rollup", buffer), field) * 1024;
    }

    /// <summary>Reads a small /proc file into <paramref name="buffer"/> and returns the part read.</summary>
    private static ReadOnlySpan<byte> ReadProcFile(string path, Span<byte> buffer)
    {
        if (!OperatingSystem.IsLinux())
            throw new GmmException(GmmError.NotSupported, $"real RSS is read from {path}, which only Linux has");
        using SafeFileHandle handle = File.OpenHandle(path);
        return buffer[..RandomAccess.Read(handle, buffer, 0)];
    }

    /// <summary>Finds "<paramref name="field"/>   1234 kB" in a smaps text and returns 1234.</summary>
    internal static long ParseKiloBytes(ReadOnlySpan<byte> text, string field)
    {
        Span<byte> key = stackalloc byte[field.Length + 1];
        key[0] = (byte)'\n';
        for (int i = 0; i < field.Length; i++) key[i + 1] = (byte)field[i];
        int at = text.IndexOf(key);
        if (at < 0) throw new GmmException(GmmError.NotSupported, $"smaps_rollup has no '{field}' line");
        long value = 0;
        foreach (byte b in text[(at + key.Length)..])
        {
            if (b is >= (byte)'0' and <= (byte)'9') value = value * 10 + (b - '0');
            else if (b == (byte)'\n') break;
        }
        return value;
    }
}
