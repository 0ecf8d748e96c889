using GuestMemory.Qemu.Tests.Support;

namespace GuestMemory.Qemu.Tests.Codec;

/// <summary>The codec on a real QEMU stream: what it finds in it, and that reading and writing it back gives the same bytes.</summary>
public sealed class StreamCodecTests
{
    [Fact]
    public void A_recorded_QEMU_stream_reads_as_its_machine_blocks_pages_and_devices()
    {
        byte[] stream = RecordedStream.Get();
        var reader = new QemuStreamReader(new MemoryStream(stream));
        var layout = new LayoutSink(() => reader.Position);

        reader.Read(layout);

        Assert.Equal("pc-i440fx-7.2", layout.Machine);
        Assert.Equal("pc.ram", layout.Blocks[0].Id);
        Assert.Equal(16L << 20, layout.Blocks[0].Length);
        Assert.Contains(layout.Blocks, b => b.Id == "pc.bios");
        Assert.Contains("cpu", layout.Devices);
        Assert.Contains(layout.Items, i => i.Kind == "ram-part");
        Assert.Single(layout.Items, i => i.Kind == "ram-end");
        Assert.True(layout.DescriptionBytes > 0);
        Assert.Equal(stream.Length, reader.Position);
        Assert.True(layout.Pages + layout.FilledPages >= layout.Blocks.Sum(b => b.Pages), "the first pass sends every page");
    }

    [Fact]
    public void Reading_a_real_stream_and_writing_what_was_read_gives_the_same_bytes()
    {
        byte[] stream = RecordedStream.Get();
        var copy = new MemoryStream();

        new QemuStreamReader(new MemoryStream(stream)).Read(new CopySink(new QemuStreamWriter(copy)));

        Assert.Equal(stream, copy.ToArray());
    }

    [Fact]
    public void A_writer_refuses_a_page_outside_its_block_or_of_the_wrong_size()
    {
        var writer = new QemuStreamWriter(new MemoryStream());
        writer.WriteRamSetup(new RamSectionHeader(2, 0, 4), [new RamBlock("pc.ram", 8192)]);

        Assert.Equal(QemuError.InvalidArgument, Assert.Throws<QemuException>(() => writer.WritePage(0, 8192, new byte[4096])).Error);
        Assert.Equal(QemuError.InvalidArgument, Assert.Throws<QemuException>(() => writer.WritePage(0, 0, new byte[100])).Error);
        Assert.Equal(QemuError.InvalidArgument, Assert.Throws<QemuException>(() => writer.WriteFilledPage(1, 0, 0)).Error);
    }
}
