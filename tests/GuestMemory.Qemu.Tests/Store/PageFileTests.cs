using GuestMemory.Gmm;
using GuestMemory.Qemu.Tests.Support;

namespace GuestMemory.Qemu.Tests.Store;

/// <summary>
/// Page files against a base: a guest whose contents are another stored guest's bytes at other offsets than
/// a page apart is stored in a fraction of the bytes, reads back exactly (also after the store is opened
/// again and after the base's own VM left), and keeps its base on disk as long as it needs it. Damaged,
/// cut or missing files are typed errors with no VM half there and the Gmm consistent.
/// </summary>
[Collection(ZstdLibrary.Collection)]
public sealed class PageFileTests
{
    private const int TextPages = 3000;

    /// <summary>With the system's libzstd decompressing, and with ZstdSharp's port (where libzstd is missing).</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_guest_holding_anothers_bytes_at_other_offsets_is_stored_against_it_and_reads_back_exactly(bool systemLibrary) =>
        ZstdLibrary.With(systemLibrary, StoredAgainstABase);

    private static void StoredAgainstABase()
    {
        byte[] first = Guest(shift: 0), second = Guest(shift: 100);
        using var host = new StoreTestHost();
        using (QemuVmStore store = host.Open())
        {
            store.Receive(new MemoryStream(first), "first");
            long firstFile = store.List().Single(v => v.Name == "first").FileBytes;
            store.Receive(new MemoryStream(second), "second");
            long secondFile = store.List().Single(v => v.Name == "second").FileBytes;

            Assert.True(secondFile * 4 < firstFile, $"the second guest's file ({secondFile} bytes) is compressed against the first's ({firstFile} bytes)");
            StoreRoundTripTests.AssertSameGuest(second, StoreRoundTripTests.Written(store, "second"));

            store.Delete("first");
            Assert.Equal(2, PageFiles(host.Folder).Length); // the first's page file stays: it is the second's base
            StoreRoundTripTests.AssertSameGuest(second, StoreRoundTripTests.Written(store, "second"));
        }
        using (var gmm = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = 256L << 20 }))
        using (QemuVmStore reopened = QemuVmStore.Open(gmm, new QemuStoreOptions { Directory = host.Folder, KeepResident = true }))
        {
            StoreRoundTripTests.AssertSameGuest(second, StoreRoundTripTests.Written(reopened, "second"));
            reopened.Delete("second");
            Assert.Empty(PageFiles(host.Folder));
            gmm.Verify();
        }
    }

    [Fact]
    public void A_missing_base_is_a_corrupt_store()
    {
        using var host = new StoreTestHost();
        using (QemuVmStore store = host.Open())
        {
            StoreBoth(store, Guest(shift: 0), Guest(shift: 100));
            store.Delete("first");
        }
        File.Delete(PageFiles(host.Folder)[0]);

        Assert.Equal(QemuError.StoreCorrupt, Assert.Throws<QemuException>(() => host.Open()).Error);
    }

    /// <summary>
    /// Every store file damaged at 24 places and cut at 6: opening or reading the VMs back fails with
    /// StoreCorrupt or (where the damage changed nothing that is read: a bit zstd's decoder never looks at,
    /// the index's layout) gives the guests exactly; never another exception, a wrong page or a leaked one.
    /// </summary>
    [Fact]
    public void Damaged_or_cut_files_are_reported_as_a_corrupt_store()
    {
        byte[] first = Guest(shift: 0), second = Guest(shift: 100);
        using var source = new StoreTestHost();
        using (QemuVmStore store = source.Open()) StoreBoth(store, first, second);
        var random = new Random(17);
        foreach (string file in Directory.GetFiles(source.Folder).Where(f => !f.EndsWith(StoreFolder.LockFile, StringComparison.Ordinal)))
        {
            byte[] intact = File.ReadAllBytes(file);
            var damages = new List<(string What, byte[] Bytes)>();
            for (int i = 0; i < 24; i++)
            {
                byte[] bytes = (byte[])intact.Clone();
                int at = i < 4 ? bytes.Length - 1 - i : random.Next(bytes.Length);
                bytes[at] ^= (byte)(1 << random.Next(8));
                damages.Add(($"a bit flipped at {at}", bytes));
            }
            foreach (int keep in new[] { 0, 1, intact.Length / 3, intact.Length / 2, intact.Length - 13, intact.Length - 1 })
                damages.Add(($"cut to {keep} bytes", intact[..keep]));
            int refused = 0;
            foreach ((string what, byte[] bytes) in damages)
            {
                File.WriteAllBytes(file, bytes);
                using var gmm = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = 256L << 20 });
                try
                {
                    using QemuVmStore store = QemuVmStore.Open(gmm, new QemuStoreOptions { Directory = source.Folder, ReadOnly = true });
                    StoreRoundTripTests.AssertSameGuest(first, StoreRoundTripTests.Written(store, "first"));
                    StoreRoundTripTests.AssertSameGuest(second, StoreRoundTripTests.Written(store, "second"));
                }
                catch (QemuException e) when (e.Error == QemuError.StoreCorrupt)
                {
                    refused++;
                }
                gmm.Verify();
                Assert.Equal(0, gmm.Statistics.AllocatedPages);
            }
            File.WriteAllBytes(file, intact);
            if (Path.GetFileName(file) != StoreFolder.IndexFile) Assert.True(refused > damages.Count * 3 / 4, $"{Path.GetFileName(file)}: {refused} of {damages.Count} damages found");
        }
    }

    private static void StoreBoth(QemuVmStore store, byte[] first, byte[] second)
    {
        store.Receive(new MemoryStream(first), "first");
        store.Receive(new MemoryStream(second), "second");
    }

    private static string[] PageFiles(string folder) => [.. Directory.GetFiles(folder, "*.gqp").Order(StringComparer.Ordinal)];

    /// <summary>
    /// The recorded guest with its first <see cref="TextPages"/> RAM pages holding a text made of a few hundred
    /// words, from <paramref name="shift"/> bytes in: two shifts share no page but nearly every byte.
    /// </summary>
    internal static byte[] Guest(int shift)
    {
        var random = new Random(5);
        string[] words = [.. Enumerable.Range(0, 400).Select(_ => new string([.. Enumerable.Range(0, random.Next(2, 10)).Select(_ => (char)('a' + random.Next(26)))]))];
        var text = new System.Text.StringBuilder();
        while (text.Length < (TextPages + 1) * QemuStreamFormat.PageSize) text.Append(words[random.Next(words.Length)]).Append(random.Next(12) == 0 ? '\n' : ' ');
        byte[] bytes = System.Text.Encoding.ASCII.GetBytes(text.ToString());
        var output = new MemoryStream();
        var writer = new QemuStreamWriter(output);
        new QemuStreamReader(new MemoryStream(RecordedStream.Get())).Read(new TextSink(writer, bytes.AsMemory(shift)));
        return output.ToArray();
    }

    /// <summary>Copies a stream, but every record of the first pages of block 0 carries the text's page instead.</summary>
    private sealed class TextSink(QemuStreamWriter writer, ReadOnlyMemory<byte> text) : IQemuStreamSink
    {
        private readonly CopySink _copy = new(writer);
        public void Configuration(ReadOnlySpan<byte> raw, string machine) => _copy.Configuration(raw, machine);
        public void RamSetup(RamSectionHeader header, IReadOnlyList<RamBlock> blocks) => _copy.RamSetup(header, blocks);
        public void RamSectionBegin(bool final) => _copy.RamSectionBegin(final);
        public void Page(int block, long offset, ReadOnlySpan<byte> data) => _copy.Page(block, offset, Text(block, offset) ?? data);
        public void FilledPage(int block, long offset, byte fill)
        {
            if (Text(block, offset) is { } page) _copy.Page(block, offset, page);
            else _copy.FilledPage(block, offset, fill);
        }
        public void RamSectionEnd() => _copy.RamSectionEnd();
        public void DeviceSection(ReadOnlySpan<byte> raw, string id, uint instance) => _copy.DeviceSection(raw, id, instance);
        public void End(ReadOnlySpan<byte> description) => _copy.End(description);

        private byte[]? Text(int block, long offset) =>
            block == 0 && offset < (long)TextPages * QemuStreamFormat.PageSize ? text.Slice((int)offset, QemuStreamFormat.PageSize).ToArray() : null;
    }
}
