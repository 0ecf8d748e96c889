using GuestMemory.Gmm;
using System.Security.Cryptography;

namespace GuestMemory.Qemu.Tests.Support;

/// <summary>A Gmm and a scratch folder for store tests; checks on dispose that the Gmm is consistent.</summary>
public sealed class StoreTestHost : IDisposable
{
    public StoreTestHost(long hostMib = 512)
    {
        Gmm = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = hostMib << 20 });
        Folder = Directory.CreateTempSubdirectory("gmm-store-test-").FullName;
    }

    public GlobalMemoryManager Gmm { get; }
    public string Folder { get; }

    public QemuVmStore Open(bool folder = true, bool resident = false) =>
        QemuVmStore.Open(Gmm, new QemuStoreOptions { Directory = folder ? Folder : null, KeepResident = resident });

    public void Dispose()
    {
        Gmm.Verify();
        Gmm.Dispose();
        try { Directory.Delete(Folder, recursive: true); } catch (IOException) { }
    }
}

/// <summary>
/// The final content of every page a QEMU stream carries (the last copy of each page wins, as in QEMU's
/// loader), as a SHA-256 per (block, offset): what a target QEMU's RAM holds after loading the stream.
/// </summary>
public sealed class FinalPages : IQemuStreamSink
{
    private static readonly byte[] Zero = new byte[QemuStreamFormat.PageSize];
    private IReadOnlyList<RamBlock> _blocks = [];
    public Dictionary<(string Block, long Offset), string> Pages { get; } = [];
    public List<string> Devices { get; } = [];
    public string Machine { get; private set; } = "";

    public static FinalPages Of(byte[] stream)
    {
        var pages = new FinalPages();
        new QemuStreamReader(new MemoryStream(stream)).Read(pages);
        return pages;
    }

    public void Configuration(ReadOnlySpan<byte> raw, string machine) => Machine = machine;
    public void RamSetup(RamSectionHeader header, IReadOnlyList<RamBlock> blocks) => _blocks = blocks;
    public void RamSectionBegin(bool final) { }
    public void Page(int block, long offset, ReadOnlySpan<byte> data) => Pages[(_blocks[block].Id, offset)] = Convert.ToHexString(SHA256.HashData(data));
    public void FilledPage(int block, long offset, byte fill)
    {
        byte[] page = new byte[QemuStreamFormat.PageSize];
        page.AsSpan().Fill(fill);
        Page(block, offset, page);
    }
    public void RamSectionEnd() { }
    public void DeviceSection(ReadOnlySpan<byte> raw, string id, uint instance) => Devices.Add(Convert.ToHexString(SHA256.HashData(raw)));
    public void End(ReadOnlySpan<byte> description) { }

    /// <summary>Pages that hold anything but zeros.</summary>
    public int NonZero => Pages.Values.Count(h => h != ZeroHash);

    /// <summary>The hash of a page of zeros.</summary>
    public static readonly string ZeroHash = Convert.ToHexString(SHA256.HashData(Zero));
}
