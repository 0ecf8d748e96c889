using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace GuestMemory.Qemu.Tests.Support;

/// <summary>Helpers for tests that migrate real guests into stores and back.</summary>
public static class StoreGuests
{
    /// <summary>A port free now on loopback (for a target QEMU's <c>-incoming</c>; the system may hand it out again, rarely).</summary>
    public static int FreePort()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return port;
    }

    /// <summary>Migrates <paramref name="source"/> into <paramref name="store"/> through a listener, as <paramref name="name"/>, and waits until QEMU says it is done; the arrival had no error.</summary>
    public static async Task<StoreArrival> MigrateIntoAsync(QemuGuest source, QemuVmStore store, string name)
    {
        CancellationToken cancel = TestContext.Current.CancellationToken;
        await using QemuStoreListener listener = QemuStoreListener.Start(store, IPAddress.Loopback, 0, () => name);
        await source.Qmp.MigrateAsync($"tcp:127.0.0.1:{listener.Port}", cancel);
        StoreArrival arrival = await listener.NextAsync(TimeSpan.FromMinutes(2), cancel);
        Assert.Null(arrival.Error);
        Assert.Equal("completed", (await source.Qmp.WaitForMigrationAsync(TimeSpan.FromMinutes(2), cancel)).Status);
        return arrival;
    }

    /// <summary>Starts a QEMU that waits for a migration on a free loopback port, paused after it loads (<c>-S</c>) when <paramref name="paused"/>.</summary>
    public static async Task<(QemuGuest Guest, int Port)> StartTargetAsync(string name, long ramBytes, bool paused)
    {
        int port = FreePort();
        GuestOptions options = RealGuestFixture.Options(name, ramBytes) with
        {
            Incoming = $"tcp:127.0.0.1:{port}",
            ExtraArguments = paused ? ["-S"] : [],
        };
        return (await QemuGuest.StartAsync(options), port);
    }

    /// <summary>Pages of a guest's memfd that hold memory on the host (allocated) but only zeros: what a resume need not have made resident (the live scan's zero pages less its holes).</summary>
    public static long ResidentZeroPages(GuestRam ram)
    {
        LiveFigures live = LiveAnalysis.Analyze([ram]);
        return live.Figures.Total.ZeroPages - live.HolePages;
    }

    /// <summary>The SHA-256 of each page of a guest's memfd RAM (QEMU's pc.ram block).</summary>
    public static Dictionary<long, string> RamPages(GuestRam ram)
    {
        var pages = new Dictionary<long, string>();
        byte[] buffer = new byte[1 << 20];
        for (long offset = 0; offset < ram.Size; offset += buffer.Length)
        {
            int n = ram.Read(offset, buffer);
            for (int i = 0; i < n; i += QemuStreamFormat.PageSize)
                pages[offset + i] = Convert.ToHexString(SHA256.HashData(buffer.AsSpan(i, QemuStreamFormat.PageSize)));
        }
        return pages;
    }
}
