using GuestMemory.Gmm;
using GuestMemory.State;

namespace GuestMemory.Migration;

/// <summary>
/// The first frame of a session (HELO): magic and protocol version at fixed offsets (so any version of
/// a target can say which version it was offered), the mode, everything the target needs to create the
/// VM (its options, as <see cref="GlobalMemoryManager.CreateVm"/> takes them) and to refuse it up front
/// (the layout, the non-zero pages a first pass will need host pages for, the ballooned pages).
/// </summary>
internal sealed record Hello(MigrationMode Mode, VmOptions Options, StateLayout Layout, long NonZeroPages, long BalloonedPages)
{
    public void WriteTo(WireWriter w)
    {
        w.Bytes(MigrationProtocol.Magic).U32(MigrationProtocol.Version).U32((uint)Mode).U32(Paging.PageSize);
        VmOptions o = Options;
        w.Text(o.Name).I64(o.RamSize).U8((byte)o.Priority).U8((byte)o.Policy).Text(o.SharingDomain).U8(o.PageSharing ? (byte)1 : (byte)0)
         .I64(o.MinimumRam).I64(o.MaximumRam ?? -1).U32((uint)o.Weight);
        w.U32((uint)Layout.Ranges.Count);
        Layout.WriteTo(w.Take(Layout.Ranges.Count * SavedStateFormat.RangeEntryBytes));
        w.I64(Layout.Pages).I64(NonZeroPages).I64(BalloonedPages);
    }

    /// <summary>Reads and checks HELLO; the options are checked again by <see cref="GlobalMemoryManager.CreateVm"/>.</summary>
    /// <exception cref="GmmException"><see cref="GmmError.MigrationVersionUnsupported"/>, <see cref="GmmError.MigrationStreamCorrupt"/>.</exception>
    public static Hello Read(ReadOnlySpan<byte> payload)
    {
        var r = new WireReader(payload, "HELLO");
        if (!r.Bytes(MigrationProtocol.Magic.Length).SequenceEqual(MigrationProtocol.Magic)) throw MigrationErrors.Corrupt("HELLO does not start with the protocol's magic");
        uint version = r.U32();
        if (version != MigrationProtocol.Version) throw MigrationErrors.Version(version);
        var mode = (MigrationMode)r.U32();
        if (mode is not (MigrationMode.Move or MigrationMode.Mirror)) throw MigrationErrors.Corrupt($"HELLO asks for mode {(int)mode}");
        if (r.U32() != Paging.PageSize) throw MigrationErrors.Corrupt("the source's page size is not 4096");
        var options = new VmOptions
        {
            Name = r.Text(), RamSize = r.I64(), Priority = (VmPriority)r.U8(), Policy = (OvercommitPolicy)r.U8(), SharingDomain = r.Text(),
            PageSharing = r.U8() != 0, MinimumRam = r.I64(), MaximumRam = NullIfNegative(r.I64()), Weight = (int)r.U32(),
        };
        uint ranges = r.U32();
        if (ranges is 0 or > SavedStateFormat.MaxRanges) throw MigrationErrors.Corrupt($"HELLO declares {ranges} ranges");
        StateLayout layout = ReadLayout(r.Bytes((int)ranges * SavedStateFormat.RangeEntryBytes), (int)ranges);
        long pages = r.I64(), nonZero = r.I64(), ballooned = r.I64();
        r.End();
        if (pages != layout.Pages || nonZero < 0 || nonZero > pages || ballooned < 0 || ballooned > layout.RamPages || nonZero + ballooned > pages)
            throw MigrationErrors.Corrupt($"HELLO counts {pages} pages, {nonZero} non-zero and {ballooned} ballooned for a layout of {layout.Pages}");
        return new Hello(mode, options, layout, nonZero, ballooned);
    }

    private static StateLayout ReadLayout(ReadOnlySpan<byte> table, int count)
    {
        try
        {
            return StateLayout.Read(table, count);
        }
        catch (GmmException e)
        {
            // Tested in the handler, not in a filter: a filter runs before the thrower's finally blocks (DESIGN.md, "Locks and exceptions").
            if (!MigrationErrors.IsStreamError(e.Error)) throw;
            throw MigrationErrors.Corrupt("the layout in HELLO", e);
        }
    }

    private static long? NullIfNegative(long value) => value < 0 ? null : value;
}
