using GuestMemory.Host;
using GuestMemory.Phys;

namespace GuestMemory.State;

/// <summary>
/// Counts what the header declares before the first record is written, since a stream cannot be
/// rewound to fill them in later: the pages a restore will need a host page for, the distinct shared
/// contents and the ballooned pages. Uses the classifier the records use, so for a paused VM the counts
/// are exact; checking a private page for zeros stops at its first non-zero byte, so the pass costs
/// little beyond the all-zero pages.
/// </summary>
internal static class StatePlan
{
    public static StateHeader Count(HostMemory host, MemoryRange[] ranges)
    {
        var counts = new ImageCounts();
        var sharedPages = new HashSet<uint>();
        foreach (MemoryRange range in ranges)
        {
            for (int i = 0; i < range.Entries.Length; i++)
            {
                AccessEpoch.Section section = AccessEpoch.Enter();
                ulong e = GuestPhysicalMemory.ReadEntry(range, i);
                PageClass cls = PageClassifier.Classify(range, e, host);
                section.Exit();
                if (cls == PageClass.Shared) sharedPages.Add(GuestPage.Page(e).Value);
                counts.Add(cls);
            }
        }
        return new StateHeader(StateLayout.Of(ranges), counts.NonZero, sharedPages.Count, counts.Ballooned);
    }
}
