using GuestMemory.Phys;

namespace GuestMemory.State;

/// <summary>How the pages of a staged image are backed, counted from their entries' states.</summary>
internal struct ImageFigures
{
    public long Private, Shared, Zero, Ballooned;

    /// <summary>The figures of staged <paramref name="entries"/>; an <see cref="GuestPage.Unchanged"/> entry counts as the VM's own entry in <paramref name="ranges"/>.</summary>
    public static ImageFigures Of(ulong[][] entries, MemoryRange[] ranges)
    {
        var f = new ImageFigures();
        for (int r = 0; r < entries.Length; r++)
            for (int i = 0; i < entries[r].Length; i++)
                f.Add(GuestPage.State(entries[r][i] == GuestPage.Unchanged ? GuestPhysicalMemory.ReadEntry(ranges[r], i) : entries[r][i]));
        return f;
    }

    private void Add(GuestPageState state)
    {
        switch (state)
        {
            case GuestPageState.Allocated: Private++; break;
            case GuestPageState.Shared: Shared++; break;
            case GuestPageState.Ballooned: Ballooned++; break;
            default: Zero++; break;
        }
    }
}
