using System.Text.Json;

namespace GuestMemory.Benchmarks;

/// <summary>
/// Machine-wide KSM knobs (<c>/sys/kernel/mm/ksm</c>) changed for one benchmark run and put back
/// afterwards, whatever happens: on <see cref="Dispose"/> (normal end and exceptions), on Ctrl+C
/// (<see cref="Console.CancelKeyPress"/>), on SIGTERM and process exit (<see cref="AppDomain.ProcessExit"/>),
/// and on an unhandled exception. A SIGKILL cannot be caught, so the original values are also written
/// to a small file first: the next run finds it, sees that its owner is gone, and restores them.
/// </summary>
public sealed class KsmSettings : IDisposable
{
    /// <summary>Where the kernel exposes KSM.</summary>
    public const string Root = "/sys/kernel/mm/ksm";

    private static readonly string BackupFile = Path.Combine(Path.GetTempPath(), "gmm-ksm-settings.json");
    private readonly Lock _lock = new();
    private readonly Dictionary<string, string> _original;
    private bool _restored;

    private KsmSettings(Dictionary<string, string> original)
    {
        _original = original;
        Console.CancelKeyPress += OnCancel;
        AppDomain.CurrentDomain.ProcessExit += OnExit;
        AppDomain.CurrentDomain.UnhandledException += OnCrash;
    }

    /// <summary>True when this process may change KSM's knobs (the folder exists and <c>run</c> opens for writing).</summary>
    public static bool IsWritable()
    {
        try
        {
            using FileStream _ = new(Path.Combine(Root, "run"), FileMode.Open, FileAccess.Write);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>
    /// Records the current values of <paramref name="knobs"/> (after repairing what an interrupted
    /// earlier run left behind) and takes charge of restoring them.
    /// </summary>
    /// <param name="knobs">The knob names this run will change.</param>
    /// <param name="repaired">What an earlier, killed run had left changed and was put back now, or null.</param>
    public static KsmSettings Take(IReadOnlyList<string> knobs, out string? repaired)
    {
        repaired = RepairInterruptedRun();
        var original = knobs.ToDictionary(k => k, Read);
        File.WriteAllText(BackupFile, JsonSerializer.Serialize(new Backup(Environment.ProcessId, original)));
        return new KsmSettings(original);
    }

    /// <summary>Reads a knob or counter.</summary>
    public static string Read(string name) => File.ReadAllText(Path.Combine(Root, name)).Trim();

    /// <summary>Reads a counter as a number.</summary>
    public static long ReadLong(string name) => long.Parse(Read(name), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>True once the original values are back (after which nothing may be changed).</summary>
    public bool IsRestored { get { lock (_lock) return _restored; } }

    /// <summary>Sets one of the knobs passed to <see cref="Take"/>; does nothing once restored (Ctrl+C may restore at any time).</summary>
    public void Set(string name, string value)
    {
        if (!_original.ContainsKey(name)) throw new InvalidOperationException($"{name} was not recorded before changing it");
        lock (_lock)
            if (!_restored) Write(name, value);
    }

    /// <summary>Puts every recorded knob back (<c>run</c> first, so ksmd stops before it is retuned). Idempotent.</summary>
    public void Restore()
    {
        lock (_lock)
        {
            if (_restored) return;
            foreach ((string name, string value) in _original.OrderBy(kv => kv.Key == "run" ? 0 : 1)) Write(name, value);
            File.Delete(BackupFile);
            _restored = true;
        }
    }

    /// <summary>Restores and stops watching for Ctrl+C and exit.</summary>
    public void Dispose()
    {
        Console.CancelKeyPress -= OnCancel;
        AppDomain.CurrentDomain.ProcessExit -= OnExit;
        AppDomain.CurrentDomain.UnhandledException -= OnCrash;
        Restore();
    }

    private void OnCancel(object? sender, ConsoleCancelEventArgs e) => Restore(); // and let the process end as Ctrl+C wants
    private void OnExit(object? sender, EventArgs e) => Restore();
    private void OnCrash(object? sender, UnhandledExceptionEventArgs e) => Restore();

    private static void Write(string name, string value)
    {
        using FileStream file = new(Path.Combine(Root, name), FileMode.Open, FileAccess.Write);
        file.Write(System.Text.Encoding.ASCII.GetBytes(value));
    }

    private static string? RepairInterruptedRun()
    {
        if (!File.Exists(BackupFile)) return null;
        Backup? backup = JsonSerializer.Deserialize<Backup>(File.ReadAllText(BackupFile));
        if (backup == null) return null;
        if (backup.Pid != Environment.ProcessId && IsGmm(backup.Pid))
            throw new InvalidOperationException($"process {backup.Pid} is benchmarking against KSM right now (see {BackupFile})");
        foreach ((string name, string value) in backup.Settings.OrderBy(kv => kv.Key == "run" ? 0 : 1)) Write(name, value);
        File.Delete(BackupFile);
        return string.Join(", ", backup.Settings.Select(kv => $"{kv.Key}={kv.Value}"));
    }

    /// <summary>True when the process lives and is a gmm (not an unrelated process that got the pid since).</summary>
    private static bool IsGmm(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/cmdline").Contains("gmm", StringComparison.Ordinal); }
        catch (IOException) { return false; }
    }

    private sealed record Backup(int Pid, Dictionary<string, string> Settings);
}
