using Microsoft.Win32.SafeHandles;

namespace GuestMemory.Host;

/// <summary>
/// The process's real resident set size, read from <c>/proc/self/smaps_rollup</c> (the kernel's own
/// sum over every mapping), so a test or the balloon controller sees what the host really pays.
/// </summary>
public static class HostRss
{
    /// <summary>Resident bytes of this process now (anonymous, file and shared memory together).</summary>
    public static long ReadBytes() => ReadField("Rss:");

    /// <summary>Resident anonymous bytes (guest RAM lives here).</summary>
    public static long ReadAnonymousBytes() => ReadField("Anonymous:");

    private static long ReadField(string field)
    {
        if (!OperatingSystem.IsLinux())
            throw new GmmException(GmmError.NotSupported, "real RSS is read from /proc/self/smaps_rollup, which only Linux has");
        Span<byte> buffer = stackalloc byte[4096];
        int length;
        using (SafeFileHandle handle = File.OpenHandle("/proc/self/smaps_rollup"))
            length = RandomAccess.Read(handle, buffer, 0);
        return ParseKiloBytes(buffer[..length], field) * 1024;
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
