using static GuestMemory.Tests.Phys.Model.ModelLayout;

namespace GuestMemory.Tests.Phys.Model;

/// <summary>
/// Generates the operation list of the model test up front. Addresses favour page and range edges; whole-page
/// fills and merges aim at a few "hot" pages so that identical pages (and so shared pages and copy-on-write)
/// are common.
/// </summary>
internal static class PhysOpGenerator
{
    private static readonly int[] HotPages = [0, 1, 2, 3, 4, 5, 47, 51, 52, 58];
    private static readonly byte[] Patterns = [0x00, 0x11, 0xA5, 0xFF];

    public static PhysOp Next(Random random, int vmCount)
    {
        int vm = random.Next(vmCount);
        int roll = random.Next(1000);
        return roll switch
        {
            < 230 => new WriteOp(vm, Address(random), Length(random), random.Next()),
            < 430 => new ReadOp(vm, Address(random), Length(random)),
            < 510 => new WriteUInt64Op(vm, Address(random), (ulong)random.NextInt64()),
            < 590 => new ReadUInt64Op(vm, Address(random)),
            < 680 => new FillPageOp(vm, Hot(random), Patterns[random.Next(Patterns.Length)]),
            < 740 => MapWrite(random, vm),
            < 800 => new MapReadOp(vm, random.Next(AddressablePages)),
            < 840 => new ArmOp(vm, random.Next(AddressablePages)),
            < 940 => Merge(random, vm, vmCount),
            < 950 => new BalloonOp(vm, random.Next(AddressablePages)),
            < 953 => new ResetOp(vm),
            < 996 => new ReadOp(vm, (ulong)random.Next(MappedPages) * PageSize, PageSize), // whole pages: cheap content checks
            < 999 => new ReclaimOp(),
            _ => new VerifyOp(),
        };
    }

    private static int Hot(Random random) => HotPages[random.Next(HotPages.Length)];

    /// <summary>Mostly within a few bytes of a page edge, sometimes anywhere.</summary>
    private static ulong Address(Random random)
    {
        ulong page = (ulong)random.Next(AddressablePages) * PageSize;
        return random.Next(3) switch
        {
            0 => page + (ulong)random.Next(16),
            1 => page - (ulong)random.Next(1, 16) + (page == 0 ? PageSize : 0UL),
            _ => page + (ulong)random.Next(PageSize),
        };
    }

    /// <summary>Mostly short; sometimes up to three pages and a bit, so accesses cross pages and ranges.</summary>
    private static int Length(Random random) => random.Next(10) switch
    {
        < 6 => random.Next(1, 17),
        < 9 => random.Next(1, PageSize + 1),
        _ => random.Next(PageSize, 3 * PageSize + 100),
    };

    private static MapWriteOp MapWrite(Random random, int vm)
    {
        int offset = random.Next(PageSize);
        return new MapWriteOp(vm, random.Next(10) < 7 ? Hot(random) : random.Next(AddressablePages), offset, random.Next(1, PageSize - offset + 1), random.Next());
    }

    private static MergeOp Merge(Random random, int vm, int vmCount)
    {
        int page = Hot(random), otherVm = random.Next(vmCount), otherPage = Hot(random);
        if (otherVm == vm && otherPage == page) otherPage = page == HotPages[0] ? HotPages[1] : HotPages[0];
        return new MergeOp(vm, page, otherVm, otherPage);
    }
}
