using GuestMemory.Gmm;
using GuestMemory.Phys;

namespace GuestMemory.Tests.Fusion;

/// <summary>
/// The sharing table outlives what it points at: VMs are destroyed, shared pages freed and their ids
/// reused, pages mapped. Every stale entry must be recognised and replaced, never merged with.
/// </summary>
public sealed class StaleCandidateTests
{
    [Fact]
    public void A_candidate_of_a_destroyed_vm_is_replaced()
    {
        using var world = new FusionWorld();
        byte[] content = TestPages.Filled(61);
        VirtualMachine gone = world.AddVm(8);
        world.Write(gone, 0, content);
        world.RunUntilConverged();
        world.DestroyVm(gone);

        VirtualMachine vm = world.AddVm(8);
        world.Write(vm, 0, content);
        world.Write(vm, 1, content);
        world.RunUntilConverged();

        Assert.Equal(GuestPageState.Shared, world.State(vm, 0));
        Assert.Equal(world.HostPage(vm, 0), world.HostPage(vm, 1));
        world.CheckAll();
    }

    [Fact]
    public void A_freed_shared_page_whose_id_now_holds_other_content_is_not_joined()
    {
        using var world = new FusionWorld();
        byte[] x = TestPages.Filled(62), y = TestPages.Filled(63), z = TestPages.Filled(65);
        VirtualMachine a = world.AddVm(8), b = world.AddVm(8);
        foreach (VirtualMachine vm in new[] { a, b })
        {
            world.Write(vm, 0, x);
            world.Write(vm, 1, z); // a second shared page keeps the shared chunk in use
        }
        world.RunUntilConverged();
        PageId first = world.HostPage(a, 0);
        world.Write(a, 0, TestPages.Filled(66));
        world.Write(b, 0, TestPages.Filled(67)); // x's shared page loses its last reference
        world.Gmm.ReclaimRetiredPages();

        VirtualMachine c = world.AddVm(8), d = world.AddVm(8);
        world.Write(c, 0, y);
        world.Write(d, 0, y);
        world.RunUntilConverged();
        // A chunk's free pages are a LIFO list, so y's new shared page takes x's old id: the table's entry for x is stale.
        Assert.Equal(first, world.HostPage(c, 0));

        VirtualMachine e = world.AddVm(8), f = world.AddVm(8);
        world.Write(e, 0, x);
        world.Write(f, 0, x);
        world.RunUntilConverged();

        Assert.Equal(GuestPageState.Shared, world.State(e, 0));
        Assert.Equal(world.HostPage(e, 0), world.HostPage(f, 0));
        Assert.NotEqual(first, world.HostPage(e, 0));
        world.CheckAll();
    }

    [Fact]
    public void A_mapped_page_is_not_merged_until_it_is_unmapped()
    {
        using var world = new FusionWorld();
        VirtualMachine vm = world.AddVm(8);
        byte[] content = TestPages.Filled(64);
        world.Write(vm, 0, content);
        world.Write(vm, 1, content);

        using (ReadMapping map = vm.Memory.MapForRead(FusionWorld.Address(1)))
        {
            for (int pass = 0; pass < 4; pass++) world.Gmm.Fusion.RunPass();
            Assert.NotEqual(GuestPageState.Shared, world.State(vm, 1));
            Assert.True(map.Span.SequenceEqual(content));
        }
        world.RunUntilConverged();

        Assert.Equal(world.HostPage(vm, 0), world.HostPage(vm, 1));
        world.CheckAll();
    }
}
