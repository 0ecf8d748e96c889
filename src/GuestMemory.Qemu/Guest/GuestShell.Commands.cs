using System.Globalization;
using System.Text;

namespace GuestMemory.Qemu;

/// <summary>What a <see cref="GuestShell.FillAsync"/> writes.</summary>
public enum FillKind
{
    /// <summary>Zero bytes (pages the guest holds but a perfect dedup stores as the zero page).</summary>
    Zero,
    /// <summary>Bytes from the guest's /dev/urandom: every page distinct.</summary>
    Random,
    /// <summary>One byte value repeated (the argument, 0-255): every page the same.</summary>
    Byte,
    /// <summary>Page i is <see cref="GuestWorkload.TextPage"/>(seed, i): known to the host, distinct per page, the same in every guest for the same seed.</summary>
    Text,
}

/// <summary>The typed commands of <see cref="GuestShell"/> (the init script's commands, docs/qemu.md).</summary>
public sealed partial class GuestShell
{
    /// <summary>Answers "pong".</summary>
    public async Task PingAsync(TimeSpan? timeout = null, CancellationToken cancel = default)
    {
        GuestReply r = await RunAsync("ping", null, timeout, cancel: cancel).ConfigureAwait(false);
        if (r.Text != "pong") throw new QemuException(QemuError.GuestChannelBroken, $"ping was answered with '{r.Text}'");
    }

    /// <summary>The guest echoes its words, joined by single spaces.</summary>
    public async Task<string> EchoAsync(IReadOnlyList<string> words, CancellationToken cancel = default) =>
        (await RunAsync("echo", words, cancel: cancel).ConfigureAwait(false)).Text;

    /// <summary>The guest's /proc/meminfo.</summary>
    public async Task<GuestMemInfo> MemInfoAsync(CancellationToken cancel = default) =>
        GuestMemInfo.Parse((await RunAsync("meminfo", null, cancel: cancel).ConfigureAwait(false)).Lines);

    /// <summary>The guest's heartbeat counter (it counts seconds since boot and prints each on the console).</summary>
    public async Task<long> HeartbeatAsync(CancellationToken cancel = default)
    {
        string text = (await RunAsync("heartbeat", null, cancel: cancel).ConfigureAwait(false)).Text.Trim();
        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long n) ? n
            : throw new QemuException(QemuError.GuestChannelBroken, $"the heartbeat is not a number: '{text}'");
    }

    /// <summary>Writes dirty pages back and drops the guest's page cache, dentries and inodes.</summary>
    public Task DropCachesAsync(CancellationToken cancel = default) => RunAsync("drop-caches", null, cancel: cancel);

    /// <summary>
    /// Writes a file of <paramref name="mib"/> MiB named <paramref name="name"/> into the guest's tmpfs
    /// (its RAM), filled as <paramref name="kind"/> says (<paramref name="argument"/>: the byte value for
    /// <see cref="FillKind.Byte"/>, the seed word for <see cref="FillKind.Text"/>).
    /// </summary>
    /// <exception cref="QemuException"><see cref="QemuError.InvalidArgument"/> for a bad name, size or argument;
    /// <see cref="QemuError.GuestCommandFailed"/> when the guest's tmpfs is full.</exception>
    public Task FillAsync(string name, int mib, FillKind kind, string? argument = null, TimeSpan? timeout = null, CancellationToken cancel = default)
    {
        if (mib is < 1 or > 1 << 20) throw new QemuException(QemuError.InvalidArgument, $"fill size must be 1..1048576 MiB, not {mib}");
        string[] words = kind switch
        {
            FillKind.Zero => [name, Num(mib), "zero"],
            FillKind.Random => [name, Num(mib), "random"],
            FillKind.Byte => [name, Num(mib), "byte", byte.TryParse(argument, NumberStyles.None, CultureInfo.InvariantCulture, out byte b) ? Num(b)
                : throw new QemuException(QemuError.InvalidArgument, $"a byte fill needs a value 0-255, not '{argument}'")],
            FillKind.Text => [name, Num(mib), "text", argument ?? throw new QemuException(QemuError.InvalidArgument, "a text fill needs a seed word")],
            _ => throw new QemuException(QemuError.InvalidArgument, $"unknown fill kind {kind}"),
        };
        return RunAsync("fill", words, timeout, cancel: cancel);
    }

    /// <summary>Deletes one workload file (its pages go back to the guest's free memory).</summary>
    public Task FreeAsync(string name, CancellationToken cancel = default) => RunAsync("free", [name], cancel: cancel);

    /// <summary>Deletes every workload file.</summary>
    public Task FreeAllAsync(CancellationToken cancel = default) => RunAsync("free-all", null, cancel: cancel);

    /// <summary>Copies a guest path (a file or folder, such as <c>/bin</c> or <c>/lib/modules</c>) into the workload folder as <paramref name="name"/>.</summary>
    public Task CopyAsync(string guestPath, string name, CancellationToken cancel = default) => RunAsync("copy", [guestPath, name], cancel: cancel);

    /// <summary>Lets the guest sleep for <paramref name="seconds"/> (its timers and heartbeat go on).</summary>
    public Task IdleAsync(int seconds, CancellationToken cancel = default)
    {
        if (seconds is < 0 or > 86400) throw new QemuException(QemuError.InvalidArgument, $"idle takes 0..86400 seconds, not {seconds}");
        return RunAsync("idle", [Num(seconds)], DefaultTimeout + TimeSpan.FromSeconds(seconds), cancel: cancel);
    }

    /// <summary>Runs a one-line script with the guest's busybox sh (for what the typed commands do not cover).</summary>
    /// <exception cref="QemuException"><see cref="QemuError.InvalidArgument"/> for a script with a newline;
    /// <see cref="QemuError.GuestCommandFailed"/> for a non-zero status unless <paramref name="allowFailure"/>.</exception>
    public Task<GuestReply> ShellAsync(string script, TimeSpan? timeout = null, bool allowFailure = false, CancellationToken cancel = default)
    {
        GuestShellProtocol.CheckScript(script);
        return SendAsync(id => $"{id.ToString(CultureInfo.InvariantCulture)} sh {script}", "sh", timeout, allowFailure, cancel);
    }

    private static string Num(long n) => n.ToString(CultureInfo.InvariantCulture);
}

/// <summary>Contents the guest workloads write, computed on the host to find them in guest RAM.</summary>
public static class GuestWorkload
{
    /// <summary>
    /// Page <paramref name="index"/> of a <see cref="FillKind.Text"/> file: <c>SEED:iiiiiiii;</c>
    /// (the index in 8 decimal digits) repeated and cut at 4096 bytes, as the guest's awk writes it.
    /// </summary>
    public static byte[] TextPage(string seed, long index)
    {
        GuestShellProtocol.CheckWord(seed, "seed");
        if (index is < 0 or > 99_999_999) throw new QemuException(QemuError.InvalidArgument, $"a text page index is 0..99999999, not {index}");
        byte[] unit = Encoding.ASCII.GetBytes($"{seed}:{index.ToString("D8", CultureInfo.InvariantCulture)};");
        byte[] page = new byte[Paging.PageSize];
        for (int i = 0; i < page.Length; i++) page[i] = unit[i % unit.Length];
        return page;
    }
}
