using System.Runtime.CompilerServices;
using GuestMemory.Phys;

namespace GuestMemory.State;

/// <summary>How the pages of a staged image are backed, counted from their entries' states.</summary>
internal struct ImageFigures
{
    public long Private, Shared, Zero, Ballooned;

    /// <summary>The figures of staged <paramref name="entries"/>; an <see cref="GuestPage.Unchanged"/> entry counts as the VM's own entry in <paramref name="ranges"/>.</summary>
    /// <remarks>A histogram by state, without a branch per entry: a migration counts its image inside the guest's downtime.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static ImageFigures Of(PageEntryTable[] entries, MemoryRange[] ranges)
    {
        Span<long> byState = stackalloc long[8];
        byState.Clear();
        for (int r = 0; r < entries.Length; r++)
        {
            PageEntryTable staged = entries[r], current = ranges[r].Entries;
            for (int i = 0; i < staged.Length; i++)
            {
                ulong e = staged[i];
                if (e == GuestPage.Unchanged) e = Volatile.Read(ref current[i]);
                byState[(int)GuestPage.State(e)]++;
            }
        }
        return new ImageFigures
        {
            Private = byState[(int)GuestPageState.Allocated] + byState[(int)GuestPageState.WriteMonitored],
            Shared = byState[(int)GuestPageState.Shared],
            Ballooned = byState[(int)GuestPageState.Ballooned],
            Zero = byState[(int)GuestPageState.Zero],
        };
    }
}
