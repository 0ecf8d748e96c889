using GuestMemory.Qemu;

namespace GuestMemory.Qemu.Tests.Support;

/// <summary>
/// Two real guests (192 MiB each, TCG unless KVM works) booted once for every test of the
/// <see cref="RealGuestCollection"/>, and ended (by pid) when the collection is done, also after failures.
/// Tests that must end or break a guest start their own with <see cref="StartGuestAsync"/>.
/// </summary>
public sealed class RealGuestFixture : IAsyncLifetime
{
    public const long RamBytes = 192L << 20;
    private readonly List<QemuGuest> _guests = [];

    public QemuGuest A => _guests[0];
    public QemuGuest B => _guests[1];

    public async ValueTask InitializeAsync()
    {
        QemuGuest[] started = await Task.WhenAll(StartGuestAsync("fixture-a"), StartGuestAsync("fixture-b"));
        _guests.AddRange(started);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (QemuGuest g in _guests) await g.DisposeAsync();
    }

    /// <summary>Options for a test guest of <paramref name="ramBytes"/> on the project's image.</summary>
    public static GuestOptions Options(string name, long ramBytes = RamBytes)
    {
        (GuestKernel kernel, GuestImage image) = QemuPrerequisites.Get();
        return new GuestOptions { Name = name, RamBytes = ramBytes, Kernel = kernel, Image = image, BootTimeout = TimeSpan.FromSeconds(150) };
    }

    /// <summary>Starts a guest; the caller disposes it (await using).</summary>
    public static Task<QemuGuest> StartGuestAsync(string name, long ramBytes = RamBytes) => QemuGuest.StartAsync(Options(name, ramBytes));
}

/// <summary>The tests that share <see cref="RealGuestFixture"/>'s guests run one after another.</summary>
[CollectionDefinition(Name)]
public sealed class RealGuestCollection : ICollectionFixture<RealGuestFixture>
{
    public const string Name = "real guests";
}
