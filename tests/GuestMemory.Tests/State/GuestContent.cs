using GuestMemory.State;
using GuestMemory.Phys;

namespace GuestMemory.Tests.State;

/// <summary>
/// Fills a VM of <see cref="StateTestHost"/>'s layout with every kind of page a saved state records,
/// at fixed page numbers: private pages with data, shared pages (merged by page fusion), private pages
/// written all zero, ballooned pages, zero pages, and a written shadow ROM.
/// </summary>
internal static class GuestContent
{
    public const int RandomPages = 64;                    // pages 0..63: data of their own
    public const int SharedFirst = 64, SharedContents = 8; // pages 64..79: 8 contents, each on two pages
    public const int SharedPages = 2 * SharedContents;
    public const int ZeroWrittenFirst = 80, ZeroWrittenPages = 8;
    public const int BalloonFirst = 88, BalloonPages = 8;

    /// <summary>Fills the VM; the same seed gives the same content. Runs two fusion passes (which share the pairs).</summary>
    public static void FillMixed(GlobalMemoryManager gmm, VirtualMachine vm, int seed)
    {
        GuestPhysicalMemory m = vm.Memory;
        for (int p = 0; p < RandomPages; p++) m.Write(Address(p), StateTestHost.Bytes(Paging.PageSize, seed * 1000 + p));
        WriteSharedCandidates(vm, contentSeed: 500);
        gmm.Fusion.RunPass(); // arms
        gmm.Fusion.RunPass(); // examines and merges the pairs
        for (int p = ZeroWrittenFirst; p < ZeroWrittenFirst + ZeroWrittenPages; p++) m.Write(Address(p), new byte[Paging.PageSize]);
        m.InflateBalloon(Enumerable.Range(BalloonFirst, BalloonPages).Select(Address).ToArray());
        m.Write(StateTestHost.ShadowRomAt + 5000, StateTestHost.Bytes(100, seed));
        Assert.Equal(SharedPages, Enumerable.Range(SharedFirst, SharedPages).Count(p => m.GetPage(Address(p)).State == GuestPageState.Shared));
    }

    /// <summary>Writes the shared candidates: content i on pages 64 + 2i and 65 + 2i.</summary>
    public static void WriteSharedCandidates(VirtualMachine vm, int contentSeed)
    {
        for (int i = 0; i < SharedContents; i++)
        {
            byte[] content = StateTestHost.Bytes(Paging.PageSize, contentSeed + i);
            vm.Memory.Write(Address(SharedFirst + 2 * i), content);
            vm.Memory.Write(Address(SharedFirst + 2 * i + 1), content);
        }
    }

    /// <summary>Different data all over: for "restore into a VM that already has memory".</summary>
    public static void FillOther(VirtualMachine vm, int seed)
    {
        for (int p = 0; p < StateTestHost.RamPages; p += 3) vm.Memory.Write(Address(p), StateTestHost.Bytes(Paging.PageSize, seed + p));
        vm.Memory.InflateBalloon([Address(1), Address(2), Address(500)]);
        vm.Memory.Write(StateTestHost.ShadowRomAt, StateTestHost.Bytes(300, seed));
    }

    public static ulong Address(int page) => (ulong)page << Paging.PageShift;
}
