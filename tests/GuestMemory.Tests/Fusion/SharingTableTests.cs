using GuestMemory.Fusion;
using GuestMemory.Gmm;

namespace GuestMemory.Tests.Fusion;

/// <summary>The sharing table's chains: several contents per hash, a bounded chain, slot reuse and pruning.</summary>
public sealed class SharingTableTests
{
    private static SharingTable.Candidate Shared(uint id) => SharingTable.Candidate.ForShared(new PageId(id));

    private static List<uint> Chain(SharingTable table, ulong hash)
    {
        var ids = new List<uint>();
        for (int slot = table.First(hash); slot >= 0; slot = table.Next(slot)) ids.Add(table[slot].Shared.Value);
        return ids;
    }

    [Fact]
    public void One_hash_holds_a_bounded_chain_of_candidates()
    {
        var table = new SharingTable();
        for (uint id = 1; id <= SharingTable.MaxChain; id++) Assert.True(table.Add(7, Shared(id)));

        Assert.False(table.Add(7, Shared(99)));
        Assert.True(table.Add(8, Shared(50)));
        Assert.Equal(Enumerable.Range(1, SharingTable.MaxChain).Select(i => (uint)i).Order(), Chain(table, 7).Order());
        Assert.Equal([50u], Chain(table, 8));
        Assert.Equal(-1, table.First(9));
        Assert.Equal(SharingTable.MaxChain + 1, table.Count);
    }

    [Fact]
    public void Replace_puts_another_candidate_in_the_same_slot()
    {
        var table = new SharingTable();
        table.Add(7, Shared(1));
        table.Add(7, Shared(2));
        int slot = table.First(7);
        uint old = table[slot].Shared.Value;

        table.Replace(slot, Shared(3));

        Assert.Equal(new[] { 1u, 2u, 3u }.Where(id => id != old).Order(), Chain(table, 7).Order());
        Assert.Equal(2, table.Count);
    }

    [Fact]
    public void Prune_drops_stale_candidates_and_empty_chains_and_reuses_their_slots()
    {
        var table = new SharingTable();
        for (uint id = 1; id <= 4; id++) table.Add(7, Shared(id));
        table.Add(8, Shared(10));
        table.Add(9, Shared(20));

        int removed = table.Prune((candidate, hash) => candidate.Shared.Value % 2 == 0 || hash == 9);

        Assert.Equal(4, removed);
        Assert.Equal([1u, 3u], Chain(table, 7).Order());
        Assert.Empty(Chain(table, 8));
        Assert.Empty(Chain(table, 9));
        Assert.Equal(2, table.Count);
        for (uint id = 100; id < 104; id++) table.Add(id, Shared(id)); // reuses the freed slots
        Assert.Equal(6, table.Count);
        Assert.Equal([1u, 3u], Chain(table, 7).Order());
    }
}
