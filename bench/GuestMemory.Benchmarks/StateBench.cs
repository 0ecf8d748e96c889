using System.Diagnostics;
using System.IO.Compression;
using GuestMemory.Gmm;
using GuestMemory.State;

namespace GuestMemory.Benchmarks;

/// <summary>
/// The whole-system figures behind <c>gmm bench state</c>: a VM with realistic content (half zero
/// pages; a tenth of its pages identical to pages of a second VM and shared with it by a page-fusion
/// pass; the rest random, so incompressible) is saved, then restored into a fresh VM, each timed over
/// several runs (the best counts: on a shared machine interference only adds time). The saved size is
/// compared with a plain dump of guest RAM and with that dump through gzip.
/// </summary>
public static class StateBench
{
    /// <summary>Measures on a VM of <paramref name="ramMib"/> MiB.</summary>
    public static StateFigures Run(int ramMib, int runs, bool toFile, bool gzip, int seed)
    {
        long guestBytes = (long)ramMib << 20;
        using var gmm = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = 3 * guestBytes + (256L << 20) });
        VirtualMachine source = StateBenchContent.Create(gmm, guestBytes, seed);
        using var sink = new StateSink(toFile, capacity: guestBytes * 6 / 10);

        SavedStateSummary saved = null!;
        double save = Best(runs, () => saved = sink.Save(source));
        RestoreSummary restored = null!;
        bool verified = false;
        double restore = Best(runs, () =>
        {
            VirtualMachine copy = gmm.CreateVm(source.Options with { Name = "restored" });
            TimeSpan t = Time(() => restored = sink.Restore(copy));
            if (!verified) verified = StateBenchContent.SameMemory(source, copy) && gmm.FindInconsistencies().Count == 0;
            gmm.DestroyVm(copy);
            return t;
        });
        (double dumpGbps, double gzipRatio, double gzipSeconds) = PlainDump(source, gzip);
        return new StateFigures
        {
            SaveGbps = guestBytes / save / 1e9, RestoreGbps = guestBytes / restore / 1e9,
            FileBytesPerGuestByte = (double)saved.Bytes / guestBytes, PlainDumpBytesPerGuestByte = 1.0,
            GzipPlainDumpBytesPerGuestByte = gzipRatio, PlainDumpGbps = dumpGbps, GzipSeconds = gzipSeconds,
            Sink = toFile ? "file" : "memory", Runs = runs, GuestBytes = guestBytes, StateBytes = saved.Bytes,
            SaveSeconds = save, RestoreSeconds = restore, ZeroPages = saved.ZeroPages, RawPages = saved.RawPages,
            SharedContents = saved.SharedContents, SharedReferences = saved.SharedReferences,
            RestoredSharedPages = restored.SharedPages, PagesAllocatedUpFront = restored.PagesAllocatedUpFront, Verified = verified,
        };
    }

    /// <summary>Reads guest RAM as a plain dump (the size and speed peer), and optionally through gzip.</summary>
    private static (double Gbps, double GzipRatio, double GzipSeconds) PlainDump(VirtualMachine vm, bool gzip)
    {
        long bytes = vm.Options.RamSize;
        double seconds = Time(() => StateBenchContent.Dump(vm, Stream.Null)).TotalSeconds;
        if (!gzip) return (bytes / seconds / 1e9, 0, 0);
        var counter = new CountingStream();
        TimeSpan zipping = Time(() =>
        {
            using var zip = new GZipStream(counter, CompressionLevel.Fastest, leaveOpen: true);
            StateBenchContent.Dump(vm, zip);
        });
        return (bytes / seconds / 1e9, (double)counter.Length / bytes, zipping.TotalSeconds);
    }

    private static double Best(int runs, Action run) => Best(runs, () => Time(run));

    private static double Best(int runs, Func<TimeSpan> run)
    {
        TimeSpan best = TimeSpan.MaxValue;
        for (int i = 0; i < runs; i++)
        {
            TimeSpan t = run();
            if (t < best) best = t;
        }
        return best.TotalSeconds;
    }

    private static TimeSpan Time(Action action)
    {
        long start = Stopwatch.GetTimestamp();
        action();
        return Stopwatch.GetElapsedTime(start);
    }
}
