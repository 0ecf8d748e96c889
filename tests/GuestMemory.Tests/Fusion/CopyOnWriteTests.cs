using GuestMemory.Gmm;
using GuestMemory.Phys;

namespace GuestMemory.Tests.Fusion;

/// <summary>A write to a merged page breaks the share for the writer only; the last reference frees the shared page.</summary>
public sealed class CopyOnWriteTests
{
    private static (FusionWorld World, VirtualMachine[] Vms, PageId Shared) Merged(int vmCount, byte[] content)
    {
        var world = new FusionWorld();
        VirtualMachine[] vms = Enumerable.Range(0, vmCount).Select(_ => world.AddVm(8)).ToArray();
        foreach (VirtualMachine vm in vms) world.Write(vm, 1, content);
        world.RunUntilConverged();
        PageId shared = world.HostPage(vms[0], 1);
        Assert.All(vms, vm => Assert.Equal(shared, world.HostPage(vm, 1)));
        return (world, vms, shared);
    }

    [Fact]
    public void A_whole_page_write_breaks_the_share_for_the_writer_only()
    {
        (FusionWorld world, VirtualMachine[] vms, PageId shared) = Merged(2, TestPages.Filled(31));
        using (world)
        {
            world.Write(vms[0], 1, TestPages.Filled(32));

            Assert.Equal(GuestPageState.Allocated, world.State(vms[0], 1));
            Assert.NotEqual(shared, world.HostPage(vms[0], 1));
            Assert.Equal(shared, world.HostPage(vms[1], 1));
            Assert.Equal(1, world.Gmm.Fusion.Statistics.CopyOnWriteBreaks);
            world.CheckAll();
        }
    }

    [Fact]
    public void A_partial_write_keeps_the_rest_of_the_shared_content()
    {
        (FusionWorld world, VirtualMachine[] vms, _) = Merged(2, TestPages.Filled(33));
        using (world)
        {
            world.WriteBytes(vms[1], 1, 4000, [9, 9, 9]);
            vms[0].Memory.WriteUInt64(FusionWorld.Address(1) + 8, BitConverter.ToUInt64(world.Expected(vms[0], 1), 8)); // same bytes: still a write

            Assert.Equal(2, world.Gmm.Fusion.Statistics.CopyOnWriteBreaks);
            world.CheckAll();
        }
    }

    [Fact]
    public void A_write_mapping_breaks_the_share_too()
    {
        (FusionWorld world, VirtualMachine[] vms, PageId shared) = Merged(2, TestPages.Filled(34));
        using (world)
        {
            byte[] before = world.Expected(vms[0], 1);
            using (WriteMapping map = vms[0].Memory.MapForWrite(FusionWorld.Address(1)))
            {
                Assert.True(map.Span.SequenceEqual(before));
                map.Span[0] ^= 0xFF;
            }
            world.Expect(vms[0], 1, TestPages.WithByte(before, 0, (byte)(before[0] ^ 0xFF)));

            world.CheckContents();
            Assert.Equal(1, world.Gmm.Fusion.Statistics.CopyOnWriteBreaks);
            Assert.Equal(shared, world.HostPage(vms[1], 1));
            world.Verify();
        }
    }

    [Fact]
    public void The_last_reference_frees_the_shared_page()
    {
        (FusionWorld world, VirtualMachine[] vms, PageId shared) = Merged(3, TestPages.Filled(35));
        using (world)
        {
            for (int i = 0; i < vms.Length; i++)
            {
                world.Write(vms[i], 1, TestPages.Filled(100 + (ulong)i));
                world.Gmm.ReclaimRetiredPages();
                GmmStatistics s = world.Gmm.Statistics;
                int left = vms.Length - 1 - i;
                Assert.Equal(left > 0 ? 1 : 0, s.SharedPages);
                Assert.Equal(Math.Max(0, left - 1), s.DuplicatePages);
                if (left > 0) Assert.Equal((uint)left, world.Gmm.Pages.InspectPage(shared).References);
                world.CheckAll();
            }
            Assert.NotEqual(HostPageState.Shared, StateOrFree(world, shared));
        }
    }

    [Fact]
    public void Destroying_the_vms_drops_their_references()
    {
        (FusionWorld world, VirtualMachine[] vms, _) = Merged(2, TestPages.Filled(36));
        using (world)
        {
            world.DestroyVm(vms[0]);
            // Compaction at shutdown may have moved the shared page: follow it through the survivor's entry.
            PageId shared = world.HostPage(vms[1], 1);
            Assert.Equal(1u, world.Gmm.Pages.InspectPage(shared).References);
            world.CheckAll();

            world.DestroyVm(vms[1]);
            Assert.Equal(0, world.Gmm.Statistics.SharedPages);
            Assert.NotEqual(HostPageState.Shared, StateOrFree(world, shared));
            world.Verify();
        }
    }

    private static HostPageState StateOrFree(FusionWorld world, PageId page)
    {
        try { return world.Gmm.Pages.GetPageState(page); }
        catch (GmmException e) when (e.Error == GmmError.PageNotFound) { return HostPageState.Free; } // its chunk went back to the host
    }
}
