using GuestMemory.Phys;

namespace GuestMemory.State;

/// <summary>How the pages of a staged image are backed, counted from their entries' states.</summary>
internal struct ImageFigures
{
    public long Private, Shared, Zero, Ballooned;

    public static ImageFigures Of(ulong[][] entries)
    {
        var f = new ImageFigures();
        foreach (ulong[] range in entries)
            foreach (ulong e in range)
                f.Add(GuestPage.State(e));
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
