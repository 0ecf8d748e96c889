namespace GuestMemory.Gmm;

/// <summary>
/// Where the Gmm puts new pages (seed: "let each allocation chunk have some affinity towards the VM
/// having allocated the most pages from it ... allocate from allocation chunks that are almost full").
/// Internal: <c>gmm bench compaction --policy</c> measures each choice against its opposite; the default
/// keeps all three because each measured better (docs/benchmarks.md).
/// </summary>
/// <param name="VmAffinity">Each VM takes pages from chunks of its own; off: every VM shares one free set, so VMs that start together interleave their pages.</param>
/// <param name="SharedChunks">Shared pages live in chunks of their own; off: in the chunks of the VM that created them.</param>
/// <param name="FullestFirst">Allocation takes the fullest chunk with room; off: the emptiest.</param>
internal sealed record ChunkPlacement(bool VmAffinity = true, bool SharedChunks = true, bool FullestFirst = true)
{
    /// <summary>Every choice on: what the Gmm does unless a benchmark asks otherwise.</summary>
    public static ChunkPlacement Default { get; } = new();
}
