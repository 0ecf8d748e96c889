using GuestMemory.Compaction;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Compaction;

/// <summary>Options out of range are refused with <see cref="GmmError.InvalidArgument"/> before anything moves or any worker starts.</summary>
public sealed class CompactionOptionsTests
{
    public static TheoryData<string, CompactionOptions> Invalid => new()
    {
        { "SparseThreshold", new CompactionOptions { SparseThreshold = 0 } },
        { "SparseThreshold", new CompactionOptions { SparseThreshold = 1 } },
        { "SparseThreshold", new CompactionOptions { SparseThreshold = double.NaN } },
        { "MaxChunksPerRun", new CompactionOptions { MaxChunksPerRun = 0 } },
        { "PagesPerSecond", new CompactionOptions { PagesPerSecond = -1 } },
        { "CpuFraction", new CompactionOptions { CpuFraction = 0 } },
        { "CpuFraction", new CompactionOptions { CpuFraction = 1.5 } },
        { "Interval", new CompactionOptions { Interval = TimeSpan.FromSeconds(-1) } },
        { "MinimumExcessChunks", new CompactionOptions { MinimumExcessChunks = -1 } },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void A_run_with_an_option_out_of_range_fails_and_moves_nothing(string option, CompactionOptions options)
    {
        using var rig = new CompactionRig();
        VirtualMachine vm = rig.AddVm(2048);
        rig.Fragment(2048, vm);
        int chunks = rig.ChunksInUse;

        GmmException e = GmmAssert.Fails(GmmError.InvalidArgument, () => rig.Compactor.Run(options));

        Assert.Contains(option, e.Message);
        Assert.Equal(chunks, rig.ChunksInUse);
        Assert.Equal(0, rig.Compactor.Statistics.Runs);
        rig.CheckAll();
    }

    [Theory]
    [MemberData(nameof(Invalid))]
    public void The_worker_does_not_start_with_an_option_out_of_range(string option, CompactionOptions options)
    {
        using var rig = new CompactionRig();

        GmmException e = GmmAssert.Fails(GmmError.InvalidArgument, () => rig.Compactor.Start(options));

        Assert.Contains(option, e.Message);
        Assert.False(rig.Compactor.IsRunning);
    }
}
