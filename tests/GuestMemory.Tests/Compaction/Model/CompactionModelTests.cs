using GuestMemory.Tests.Compaction.Model;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Compaction;

/// <summary>
/// Model-based random test: three VMs take random writes (a small pool of contents, so fusion shares
/// pages), balloons, deflations, resets and replacement (which compacts at shutdown), interleaved with
/// fusion passes and compaction runs, some while a page is mapped. Every read agrees with a byte-exact
/// model; every page and <c>Verify()</c> are checked every 500 operations and at the end. A failure is
/// shrunk to a short list of operations.
/// </summary>
public sealed class CompactionModelTests
{
    private const int Operations = 4000;

    [Theory]
    [InlineData(11, false)] // the seed's free policy: freed pages stay until compaction empties their chunk
    [InlineData(12, false)]
    [InlineData(13, true)]  // the eager policy: freed pages go back at once, targets are discarded pages
    [InlineData(14, true)]
    public void Random_operations_with_compaction_keep_every_byte(int seed, bool returnFreedPagesAtOnce)
    {
        CompactionModelSystem? last = null;
        var runner = new ModelTestRunner<CompactionOp>(() => last = new CompactionModelSystem(returnFreedPagesAtOnce), CompactionOpGenerator.Next)
        {
            CheckEvery = 500,
            MaxShrinkTime = TimeSpan.FromSeconds(60),
        };

        runner.Run(seed, Operations);

        Assert.True(last!.Compaction.PrivatePagesMoved > 0, "no private page moved: the test did not exercise compaction");
        Assert.True(last.Compaction.SharedPagesMoved > 0, "no shared page moved");
        Assert.True(last.Merged > 0, "fusion merged nothing: the test did not exercise sharing");
    }
}
