namespace GuestMemory.Tests.Compaction.Model;

/// <summary>
/// Draws operations with a mix that keeps chunks filling (writes), emptying here and there (balloons,
/// resets, VM replacement) and sharing (a small pool of contents), with fusion passes and compaction
/// runs often enough that pages move in every state.
/// </summary>
internal static class CompactionOpGenerator
{
    public const int VmSlots = 3;
    public const int PagesPerVm = 2048;
    /// <summary>Contents numbered below this come from a pool every VM writes (duplicates: enough for more than a chunk of shared pages); above, unique.</summary>
    public const int PoolSize = 1024;

    public static CompactionOp Next(Random r)
    {
        int vm = r.Next(VmSlots), page = r.Next(PagesPerVm);
        return r.Next(1000) switch
        {
            < 400 => new WriteOp(vm, page, r.Next(3) == 0 ? r.Next(PoolSize) : r.Next(PoolSize, int.MaxValue), Partial: r.Next(8) == 0, Offset: r.Next(Paging.PageSize / 64) * 64),
            < 520 => new FillOp(vm, page, r.Next(1, 700), r.Next(PoolSize), Pooled: r.Next(3) != 0),
            < 620 => new ReadOp(vm, page),
            < 720 => new BalloonOp(vm, r.Next(1, 500), r.Next()),
            < 780 => new DeflateOp(vm, r.Next(1, 500), r.Next()),
            < 790 => new ResetOp(vm),
            < 798 => new RecreateOp(vm),
            < 880 => new FusionPassOp(),
            < 990 => new CompactOp(r.Next(4) switch { 0 => 0.25, 1 => 0.5, 2 => 0.75, _ => 0.99 }),
            _ => new CompactWhileMappedOp(vm, page),
        };
    }
}
