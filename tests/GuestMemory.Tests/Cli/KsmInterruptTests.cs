using System.Diagnostics;
using GuestMemory.Tests.Support;
using static GuestMemory.Tests.Support.GmmProcess;

namespace GuestMemory.Tests.Cli;

/// <summary>
/// <c>gmm bench fusion --peer ksm</c> interrupted by Ctrl+C while KSM is tuned for it: the process exits
/// 130 and KSM's machine-wide settings are what they were before. Needs root and KSM (this project's
/// machines have both); without them the test fails rather than skip. Whatever happens, the test itself
/// puts back any setting it finds changed, so it never leaves the machine altered.
/// </summary>
public sealed class KsmInterruptTests : IDisposable
{
    private const string Ksm = "/sys/kernel/mm/ksm";
    private static readonly string[] Knobs = ["run", "pages_to_scan", "sleep_millisecs"];
    private static readonly string Backup = Path.Combine(Path.GetTempPath(), "gmm-ksm-settings.json");
    private readonly string _dump = Path.Combine(Path.GetTempPath(), $"gmm-ksm-test-{Guid.NewGuid():N}.raw");
    private readonly Dictionary<string, string> _before;

    public KsmInterruptTests()
    {
        Assert.True(Directory.Exists(Ksm), $"{Ksm} is missing: this test needs Linux with KSM");
        Assert.True(Environment.UserName == "root", "this test needs root to tune KSM");
        Signals.LetChildrenBeInterrupted();
        _before = Knobs.ToDictionary(k => k, Read);
    }

    [Fact]
    public void Ctrl_c_during_the_ksm_run_restores_its_settings()
    {
        WriteDump(_dump, pages: 131_072); // 512 MiB: KSM needs over a second for it, the window in which Ctrl+C must come
        using Process bench = Start("bench", "fusion", "--dumps", _dump, "--peer", "ksm", "--json");
        var clock = Stopwatch.StartNew();
        while (!File.Exists(Backup)) // written when the KSM peer takes the settings over, before it loads and tunes
        {
            if (bench.HasExited) Assert.Fail($"gmm ended (exit {bench.ExitCode}) before the KSM run: {bench.StandardError.ReadToEnd()} {bench.StandardOutput.ReadToEnd()}");
            Assert.True(clock.Elapsed < GmmProcess.Timeout, "the KSM run did not start");
            Thread.Sleep(5);
        }

        Signals.Interrupt(bench);
        GmmOutcome run = Outcome(bench);

        Assert.True(run.ExitCode == 130, run.All);
        Assert.Equal("", run.Stdout);
        Assert.Contains("Interrupted", run.Stderr);
        Assert.Equal(_before, Knobs.ToDictionary(k => k, Read));
        Assert.False(File.Exists(Backup));
    }

    public void Dispose()
    {
        File.Delete(_dump);
        foreach ((string knob, string value) in _before.OrderBy(kv => kv.Key == "run" ? 0 : 1))
            if (Read(knob) != value) File.WriteAllText(Path.Combine(Ksm, knob), value);
    }

    private static string Read(string knob) => File.ReadAllText(Path.Combine(Ksm, knob)).Trim();

    /// <summary>A raw dump: a quarter zero pages, the rest drawn from 4,096 contents (so KSM has merging to do).</summary>
    private static void WriteDump(string path, int pages)
    {
        var random = new Random(5);
        byte[][] contents = [.. Enumerable.Range(0, 4096).Select(_ => { byte[] p = new byte[4096]; random.NextBytes(p); return p; })];
        byte[] zero = new byte[4096];
        using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
        for (int i = 0; i < pages; i++) file.Write(i % 4 == 0 ? zero : contents[random.Next(contents.Length)]);
    }
}
