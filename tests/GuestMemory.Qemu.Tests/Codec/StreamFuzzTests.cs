using System.Buffers.Binary;
using GuestMemory.Qemu.Tests.Support;

namespace GuestMemory.Qemu.Tests.Codec;

/// <summary>
/// A real QEMU stream broken on purpose — cut at and inside every section kind, bytes changed in every
/// section kind, sections dropped, repeated and swapped, random bytes — received into a store. Each either
/// gives a VM (a change inside page or device bytes cannot be seen by anyone but the target QEMU) or fails
/// with a typed stream error and leaves no VM in the store and no page in the Gmm (<c>Verify()</c> clean).
/// Seeds are fixed, so a failure repeats.
/// </summary>
public sealed class StreamFuzzTests
{
    private static readonly QemuError[] StreamErrors = [QemuError.StreamCorrupt, QemuError.StreamTruncated, QemuError.StreamUnsupported];

    [Fact]
    public void The_recording_has_every_section_kind()
    {
        IReadOnlyList<StreamSection> sections = StreamSection.Of(RecordedStream.Get());

        Assert.Equal(["header", "ram-setup", "ram-part", "ram-end", "device", "end"], sections.Select(s => s.Kind).Distinct());
        Assert.Equal(RecordedStream.Get().Length, sections[^1].End);
    }

    [Fact]
    public void A_stream_cut_at_or_inside_any_section_is_refused_as_truncated_and_leaves_nothing()
    {
        byte[] stream = RecordedStream.Get();
        var random = new Random(1701);
        using var host = new StoreTestHost();
        using QemuVmStore store = host.Open(folder: true);
        foreach (StreamSection section in StreamSection.Of(stream))
            foreach (int cut in new[] { section.Start, section.Start + 1, section.Start + random.Next(section.Length), section.End - 1 }.Distinct())
            {
                // Right after EOF the VM is whole: only the devices' description is missing, which QEMU
                // itself leaves out for machines with suppress-vmdesc (its loader goes on without it).
                if (section.Kind == "end" && cut == section.Start + 1) continue;
                QemuException e = Assert.Throws<QemuException>(() => store.Receive(new MemoryStream(stream[..cut]), "cut"));
                Assert.True(e.Error == QemuError.StreamTruncated, $"cut at {cut} in {section.Kind}: {e.Message}");
                AssertNothingKept(host, store);
            }
    }

    [Fact]
    public void Changed_bytes_in_any_section_give_the_VM_or_a_typed_refusal_that_keeps_nothing()
    {
        byte[] original = RecordedStream.Get();
        IReadOnlyList<StreamSection> sections = StreamSection.Of(original);
        var random = new Random(1702);
        var refused = new Dictionary<string, int>();
        using var host = new StoreTestHost();
        using QemuVmStore store = host.Open(folder: false);
        for (int round = 0; round < 300; round++)
        {
            StreamSection section = sections[random.Next(sections.Count)];
            byte[] stream = (byte[])original.Clone();
            int at = section.Start + (random.Next(2) == 0 ? random.Next(Math.Min(24, section.Length)) : random.Next(section.Length));
            stream[at] ^= (byte)(1 << random.Next(8));
            if (Receive(host, store, stream, $"{section.Kind} byte {at}") is QemuError error)
                refused[section.Kind] = refused.GetValueOrDefault(section.Kind) + 1;
        }
        TestContext.Current.SendDiagnosticMessage("refused per section kind: " + string.Join(", ", refused.Select(r => $"{r.Key} {r.Value}")));
        Assert.True(refused.Count >= 5, "changes in the headers of most section kinds are caught");
    }

    [Fact]
    public void Sections_dropped_repeated_or_swapped_give_the_VM_or_a_typed_refusal_that_keeps_nothing()
    {
        byte[] original = RecordedStream.Get();
        List<StreamSection> sections = [.. StreamSection.Of(original)];
        var random = new Random(1703);
        int refusals = 0;
        using var host = new StoreTestHost();
        using QemuVmStore store = host.Open(folder: false);
        for (int round = 0; round < 200; round++)
        {
            List<StreamSection> order = [.. sections];
            int i = random.Next(1, order.Count), j = random.Next(1, order.Count);
            switch (random.Next(3))
            {
                case 0: order.RemoveAt(i); break;
                case 1: order.Insert(j, order[i]); break;
                default: (order[i], order[j]) = (order[j], order[i]); break;
            }
            byte[] stream = [.. order.SelectMany(s => original[s.Start..s.End])];
            if (Receive(host, store, stream, $"round {round}") != null) refusals++;
        }
        // Devices in another order, or passes in another order, are still well-formed streams; a repeated
        // section id, a ram section after its end, a missing setup or end are not.
        Assert.True(refusals > 50, $"only {refusals} of 200 reordered streams were refused");
    }

    [Fact]
    public void Random_bytes_after_a_valid_header_are_refused_with_a_typed_error()
    {
        byte[] header = RecordedStream.Get()[..StreamSection.Of(RecordedStream.Get())[0].End];
        var random = new Random(1704);
        using var host = new StoreTestHost();
        using QemuVmStore store = host.Open(folder: false);
        for (int round = 0; round < 300; round++)
        {
            byte[] tail = new byte[random.Next(1, 2000)];
            random.NextBytes(tail);
            if (random.Next(2) == 0) tail[0] = (byte)random.Next(1, 9); // a valid section type, so the section parsers see the rest
            Assert.NotNull(Receive(host, store, [.. header, .. tail], $"round {round}"));
        }
    }

    /// <summary>Receives <paramref name="stream"/>; returns null when it gave a VM (then deleted), else the typed error, after checking that nothing was kept.</summary>
    private static QemuError? Receive(StoreTestHost host, QemuVmStore store, byte[] stream, string what)
    {
        try
        {
            store.Receive(new MemoryStream(stream), "fuzz");
            store.Delete("fuzz");
            AssertNothingKept(host, store);
            return null;
        }
        catch (QemuException e)
        {
            Assert.True(StreamErrors.Contains(e.Error), $"{what}: {e.Error} {e.Message}");
            AssertNothingKept(host, store);
            return e.Error;
        }
    }

    private static void AssertNothingKept(StoreTestHost host, QemuVmStore store)
    {
        Assert.Empty(store.List());
        Assert.Equal(0, host.Gmm.Statistics.AllocatedPages);
        Assert.Equal(0, host.Gmm.Statistics.Vms);
        host.Gmm.Verify();
    }
}

/// <summary>Streams that use what the store does not take are refused naming it, and keep nothing.</summary>
public sealed class UnsupportedStreamTests
{
    [Theory]
    [InlineData(0x40UL, "xbzrle")]
    [InlineData(0x100UL, "compress")]
    [InlineData(0x80UL, "RDMA")]
    [InlineData(0x200UL, "multifd")]
    [InlineData(0x400UL, "flags")]
    public void A_page_record_with_an_unsupported_flag_is_refused_naming_it(ulong flag, string named)
    {
        byte[] stream = RecordedStream.Get();
        StreamSection part = StreamSection.Of(stream).First(s => s.Kind == "ram-part");
        int record = part.Start + 5; // after the section type and id: the first record's word
        BinaryPrimitives.WriteUInt64BigEndian(stream.AsSpan(record), BinaryPrimitives.ReadUInt64BigEndian(stream.AsSpan(record)) | flag);

        AssertRefused(stream, named);
    }

    [Fact]
    public void A_return_path_or_postcopy_command_is_refused_naming_the_capability()
    {
        byte[] stream = RecordedStream.Get();
        int afterHeader = StreamSection.Of(stream)[0].End;
        AssertRefused([.. stream[..afterHeader], 0x08, 0x00, 0x01, 0x00, 0x00, .. stream[afterHeader..]], "return-path");
        AssertRefused([.. stream[..afterHeader], 0x08, 0x00, 0x03, 0x00, 0x10, .. stream[afterHeader..]], "postcopy-ram");
    }

    [Fact]
    public void Another_stream_version_or_a_capabilities_subsection_is_refused()
    {
        byte[] stream = RecordedStream.Get();
        stream[7] = 2;
        AssertRefused(stream, "version 2");

        byte[] original = RecordedStream.Get();
        int configEnd = StreamSection.Of(original)[0].End;
        byte[] name = "configuration/capabilities"u8.ToArray();
        byte[] caps = [0x05, (byte)name.Length, .. name, 0, 0, 0, 1, 0, 0, 0, 1, 15, .. "x-ignore-shared"u8.ToArray()];
        AssertRefused([.. original[..configEnd], .. caps, .. original[configEnd..]], "x-ignore-shared");
    }

    [Fact]
    public void Block_migration_is_refused_naming_its_section()
    {
        byte[] stream = RecordedStream.Get();
        StreamSection setup = StreamSection.Of(stream).First(s => s.Kind == "ram-setup");
        "blk"u8.CopyTo(stream.AsSpan(setup.Start + 6)); // the section name "ram" -> "blk"

        AssertRefused(stream, "'blk'");
    }

    private static void AssertRefused(byte[] stream, string named)
    {
        using var host = new StoreTestHost();
        using QemuVmStore store = host.Open(folder: false);
        QemuException e = Assert.Throws<QemuException>(() => store.Receive(new MemoryStream(stream), "refused"));
        Assert.Equal(QemuError.StreamUnsupported, e.Error);
        Assert.Contains(named, e.Message, StringComparison.Ordinal);
        Assert.Empty(store.List());
        Assert.Equal(0, host.Gmm.Statistics.AllocatedPages);
    }
}
