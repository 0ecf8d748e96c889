using GuestMemory.Qemu;

namespace GuestMemory.Qemu.Tests.Support;

/// <summary>
/// Three real guests (160 MiB each, TCG unless KVM works) booted once for every test of the
/// <see cref="RealGuestCollection"/>, and ended (by pid) when the collection is done, also after failures.
/// Tests that must end or break a guest start their own with <see cref="StartGuestAsync"/>.
/// </summary>
/// <remarks>
/// <see cref="Pristine"/> is never dumped with QMP <c>pmemsave</c>: QEMU reads guest RAM through its
/// mapping, which allocates every hole of the memfd, so after a pmemsave the whole RAM is resident and
/// tests of residency and holes would see nothing. <see cref="A"/> and <see cref="B"/> may be dumped.
/// </remarks>
public sealed class RealGuestFixture : IAsyncLifetime
{
    public const long RamBytes = 160L << 20;
    private readonly List<QemuGuest> _guests = [];

    public QemuGuest A => _guests[0];
    public QemuGuest B => _guests[1];
    public QemuGuest Pristine => _guests[2];

    public async ValueTask InitializeAsync()
    {
        QemuGuest[] started = await Task.WhenAll(StartGuestAsync("fixture-a"), StartGuestAsync("fixture-b"), StartGuestAsync("fixture-pristine"));
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
