using GuestMemory.Gmm;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Hardening;

/// <summary>
/// At the host limit, when the only free pages sit in a chunk the compactor is emptying, an allocation is
/// refused with the typed global-limit error and changes nothing. Found by the every-layer stress: a
/// migration target's commit died with "capacity was ensured but no chunk has a free page" (an untyped
/// InvalidOperationException from the Gmm) while the background compactor evacuated a chunk.
/// </summary>
public sealed class EvacuationAtLimitTests
{
    [Fact]
    public void Free_pages_only_in_an_evacuating_chunk_give_a_typed_refusal()
    {
        using PageManager gmm = TestGmm.Create(hostMib: 4); // two chunks
        VmHandle vm = gmm.AddVm(basePages: 2048);
        PageId[] pages = gmm.Allocate(vm, 1012);
        int partial = pages[^1].ChunkId;
        Assert.True(gmm.BeginEvacuation(partial));

        GmmAssert.FailsUnchanged(gmm, GmmError.HitGlobalLimit, () => gmm.Allocate(vm, 5));

        gmm.EndEvacuation(partial);
        Assert.Equal(5, gmm.Allocate(vm, 5).Length); // once compaction lets go, the pages are there
        gmm.Verify();
    }
}
