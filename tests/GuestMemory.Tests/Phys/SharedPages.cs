using GuestMemory.Gmm;
using GuestMemory.Phys;

namespace GuestMemory.Tests.Phys;

/// <summary>Sets up shared pages the way fusion will: write identical content, arm monitoring, merge.</summary>
internal static class SharedPages
{
    /// <summary>Writes <paramref name="content"/> to every page given, merges them into one shared page and returns it.</summary>
    public static PageId ShareOnePage(GlobalMemoryManager gmm, byte[] content, params (GuestPhysicalMemory Memory, ulong Address)[] pages)
    {
        foreach ((GuestPhysicalMemory memory, ulong address) in pages)
        {
            memory.Write(address, content);
            Assert.True(PageRequests.ArmWriteMonitoring(memory, address));
        }
        Assert.Equal(pages.Length, PageRequests.Merge(gmm.Pages, pages));
        PageId shared = pages[0].Memory.GetPage(pages[0].Address).HostPage;
        foreach ((GuestPhysicalMemory memory, ulong address) in pages)
            Assert.Equal((GuestPageState.Shared, shared), (memory.GetPage(address).State, memory.GetPage(address).HostPage));
        return shared;
    }
}
