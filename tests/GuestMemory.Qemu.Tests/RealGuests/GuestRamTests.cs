using GuestMemory.Fusion;
using GuestMemory.Qemu;
using GuestMemory.Qemu.Tests.Support;

namespace GuestMemory.Qemu.Tests.RealGuests;

/// <summary>
/// The guest's RAM read through the memfd this process owns is the guest's RAM: known content written
/// by the guest is there, byte for byte what QEMU's own <c>pmemsave</c> writes at the same moment, and
/// the live figures equal the core's dump analysis of that dump.
/// </summary>
[Collection(RealGuestCollection.Name)]
public sealed class GuestRamTests(RealGuestFixture guests) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gmm-qemu-ram-").FullName;
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact(Timeout = 180_000)]
    public async Task Content_the_guest_writes_is_in_the_memfd_and_equals_pmemsave_of_the_same_moment()
    {
        QemuGuest g = guests.A;
        const int mib = 4;
        string seed = "known" + Environment.TickCount64 % 100000;
        await g.RequireShell().FillAsync("known", mib, FillKind.Text, seed, cancel: Cancel);
        string dump = Path.Combine(_dir, "a.raw");
        await g.Qmp.StopAsync(Cancel);
        byte[] ram;
        try
        {
            await g.Qmp.PmemsaveAsync(0, g.Ram!.Size, dump, TimeSpan.FromMinutes(2), Cancel);
            ram = new byte[g.Ram.Size];
            Assert.Equal(ram.Length, g.Ram.Read(0, ram));
        }
        finally
        {
            await g.Qmp.ContAsync(Cancel);
        }
        byte[] saved = await File.ReadAllBytesAsync(dump, Cancel);
        Assert.Equal(saved.Length, ram.Length);
        Assert.True(saved.AsSpan().SequenceEqual(ram), $"the memfd differs from pmemsave at byte {FirstDifference(saved, ram)}");

        // Every page of the file the guest wrote is somewhere in its RAM (tmpfs pages are whole guest pages).
        var pages = new HashSet<string>();
        for (int offset = 0; offset < ram.Length; offset += Paging.PageSize)
            if (ram[offset] == (byte)seed[0]) pages.Add(Convert.ToBase64String(ram, offset, Paging.PageSize));
        for (int i = 0; i < mib * 256; i++)
            Assert.True(pages.Contains(Convert.ToBase64String(GuestWorkload.TextPage(seed, i))), $"page {i} of the guest's file is not in its RAM");
        await g.RequireShell().FreeAsync("known", Cancel);
    }

    [Fact(Timeout = 180_000)]
    public async Task Live_figures_of_paused_guests_equal_the_dump_analysis_of_their_pmemsave_dumps()
    {
        QemuGuest[] both = [guests.A, guests.B];
        await Task.WhenAll(both.Select(g => g.RequireShell().FillAsync("shared", 2, FillKind.Text, "same-in-both", cancel: Cancel)));
        string[] dumps = both.Select(g => Path.Combine(_dir, g.Name + ".raw")).ToArray();
        foreach (QemuGuest g in both) await g.Qmp.StopAsync(Cancel);
        LiveFigures live;
        try
        {
            for (int i = 0; i < both.Length; i++) await both[i].Qmp.PmemsaveAsync(0, both[i].Ram!.Size, dumps[i], TimeSpan.FromMinutes(2), Cancel);
            live = await LiveAnalysis.AnalyzeAsync(both, exact: true, Cancel); // already stopped: exact leaves them so
        }
        finally
        {
            foreach (QemuGuest g in both) await g.Qmp.ContAsync(Cancel);
        }
        DumpAnalysis fromDumps = DumpAnalyzer.Analyze(dumps, null, Cancel);
        Assert.Equal(fromDumps.Total, live.Figures.Total);
        Assert.Equal(fromDumps.DistinctInSeveralFiles, live.Figures.DistinctInSeveralFiles);
        Assert.Equal(fromDumps.Files.Select(f => f.Figures), live.Figures.Files.Select(f => f.Figures));
        Assert.True(live.Figures.DistinctInSeveralFiles >= 512, "the 2 MiB both guests wrote are shared content");
        Assert.Equal(2 * RealGuestFixture.RamBytes / Paging.PageSize, live.Figures.Total.Pages);
        foreach (QemuGuest g in both) Assert.True((await g.Qmp.QueryStatusAsync(Cancel)).Running);
        foreach (QemuGuest g in both) await g.RequireShell().FreeAsync("shared", Cancel);
    }

    [Fact(Timeout = 120_000)]
    public async Task Exact_analysis_pauses_running_guests_and_resumes_them_and_skips_untouched_RAM()
    {
        var stops = new List<string>();
        void OnEvent(QmpEvent e) { lock (stops) stops.Add(e.Name); }
        QemuGuest g = guests.Pristine;
        g.Qmp.EventReceived += OnEvent;
        try
        {
            LiveFigures live = await LiveAnalysis.AnalyzeAsync([g], exact: true, Cancel);
            Assert.Equal(RealGuestFixture.RamBytes / Paging.PageSize, live.Figures.Total.Pages);
            Assert.True(live.HolePages > 0 && live.BytesRead + live.HolePages * Paging.PageSize == RealGuestFixture.RamBytes, "untouched RAM is counted, not read");
            Assert.True(live.Figures.Total.ZeroPages >= live.HolePages);
            await g.RequireShell().PingAsync(cancel: Cancel); // it runs again
        }
        finally
        {
            g.Qmp.EventReceived -= OnEvent;
        }
        lock (stops) Assert.Equal(["STOP", "RESUME"], stops);
    }

    [Fact(Timeout = 120_000)]
    public async Task The_memfd_resident_figure_follows_what_the_guest_touches_and_a_live_scan_allocates_nothing()
    {
        GuestRam ram = guests.Pristine.Ram!;
        long before = ram.ResidentBytes;
        Assert.InRange(before, 1, ram.Size);
        LiveAnalysis.Analyze([ram], Cancel);
        LiveAnalysis.Analyze([ram], Cancel);
        long afterScans = ram.ResidentBytes;
        Assert.True(afterScans - before < 4L << 20, $"two scans changed the memfd's resident bytes by {(afterScans - before) >> 20} MiB");
        Assert.True(ram.ResidentBytes < ram.Size, "an idle guest has not touched all of its RAM");
    }

    private static long FirstDifference(byte[] a, byte[] b)
    {
        for (long i = 0; i < Math.Min(a.LongLength, b.LongLength); i++)
            if (a[i] != b[i]) return i;
        return Math.Min(a.LongLength, b.LongLength);
    }
}
