using GuestMemory.Compaction;
using GuestMemory.Gmm;
using GuestMemory.Phys;

namespace GuestMemory.Tests.Compaction;

/// <summary>A mapped page is never moved: its chunk keeps it (and stays in use) until the mapping is gone.</summary>
public sealed class MappedPageTests
{
    [Fact]
    public void A_page_mapped_for_reading_stays_in_its_chunk_and_the_next_run_moves_it()
    {
        using var rig = Fragmented(out VirtualMachine vm, out int page);
        PageId before = rig.HostPage(vm, page);

        ReadMapping mapping = vm.Memory.MapForRead(CompactionRig.Address(page));
        CompactionResult result = rig.Compactor.Run();
        bool sameBytes = mapping.Span.SequenceEqual(rig.Expected(vm, page));
        mapping.Dispose();

        Assert.True(sameBytes);
        Assert.Equal(before, rig.HostPage(vm, page));
        Assert.Contains(before.ChunkId, rig.ChunksOf(vm));
        Assert.True(result.ChunksEvacuated >= 1);
        Assert.Equal(rig.Gmm.Statistics.MinimumChunks + 1, rig.ChunksInUse); // only the mapped page's chunk is left over
        rig.CheckAll();

        rig.Compactor.Run();
        Assert.NotEqual(before, rig.HostPage(vm, page));
        Assert.Equal(rig.Gmm.Statistics.MinimumChunks, rig.ChunksInUse);
        rig.CheckAll();
    }

    [Fact]
    public void A_page_mapped_for_writing_keeps_the_bytes_written_through_the_mapping()
    {
        using var rig = Fragmented(out VirtualMachine vm, out int page);
        PageId before = rig.HostPage(vm, page);
        byte[] written = (byte[])rig.Expected(vm, page).Clone();
        written[100] ^= 0xFF;

        WriteMapping mapping = vm.Memory.MapForWrite(CompactionRig.Address(page));
        rig.Compactor.Run();
        mapping.Span[100] ^= 0xFF; // a device writing through its mapping after the run
        mapping.Dispose();

        Assert.Equal(before, rig.HostPage(vm, page));
        Assert.Equal(written, rig.Read(vm, page));
        rig.Write(vm, page, written); // the model learns what the mapping wrote
        rig.CheckAll();
    }

    /// <summary>Two half-full chunks and a page of the one that will be emptied.</summary>
    private static CompactionRig Fragmented(out VirtualMachine vm, out int page)
    {
        var rig = new CompactionRig();
        vm = rig.AddVm(1024);
        rig.Fragment(1024, vm);
        rig.Balloon(vm, Enumerable.Range(50, 100).Select(p => 2 * p)); // the first chunk is the emptiest
        page = 2;
        return rig;
    }
}
