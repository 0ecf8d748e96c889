using GuestMemory.Tests.Gmm.Model;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Gmm;

/// <summary>
/// Model-based random test of the whole Gmm: 100,000 operations per seed over four VM slots on real host
/// memory, compared with a plain reference model after every operation and in full every 2,000.
/// </summary>
public sealed class GmmModelTests(ITestOutputHelper output)
{
    private const int Operations = 100_000;

    /// <summary>Every error the Gmm raises must come up in a run, or the generator is not reaching that path.</summary>
    private static readonly GmmError[] ErrorsEveryRunHits =
    [
        GmmError.InvalidArgument, GmmError.HitGlobalLimit, GmmError.HitVmAccountLimit, GmmError.AttemptToFreeTooMuch,
        GmmError.AttemptToDeflateTooMuch, GmmError.PageNotFound, GmmError.PageNotPrivate, GmmError.PageNotShared,
        GmmError.PageAlreadyFree, GmmError.NotPageOwner, GmmError.ChunkNotFound, GmmError.ChunkAlreadyMapped,
        GmmError.ChunkNotMapped, GmmError.ReservationDeclined, GmmError.VmNotFound, GmmError.HostOutOfMemory,
    ];

    [Theory]
    [InlineData(20250101, 0)] // no spare chunks: the model knows exactly which chunks are committed
    [InlineData(4242, 2)]     // two spares: emptied chunks may stay committed
    public void Random_operations_agree_with_the_reference_model(int seed, int spareChunks)
    {
        GmmModelTest? last = null;
        var runner = new ModelTestRunner<GmmOp>(() => last = new GmmModelTest(hostMib: 48, spareChunks, overcommitRatio: 2.0), GmmOperationGenerator.Next)
        {
            CheckEvery = 2000,
        };

        runner.Run(seed, Operations);

        output.WriteLine($"seed {seed}, {Operations:N0} operations, outcomes:");
        output.WriteLine(last!.DescribeOutcomes());
        string[] seen = last.Outcomes.Keys.Select(k => k.Outcome).Distinct().ToArray();
        Assert.All(ErrorsEveryRunHits, e => Assert.Contains(e.ToString(), seen));
    }
}
