using System.Buffers.Binary;
using GuestMemory.Fusion;
using GuestMemory.State;

namespace GuestMemory.Tests.State;

/// <summary>
/// States whose CRCs are all valid but whose records break the format's rules are refused with the VM
/// unchanged; a valid state that needs more pages than its header declared (as a live save's later
/// passes may) still restores. The states are written record by record with the format's own writer.
/// </summary>
public sealed class RecordRuleTests : IDisposable
{
    private const int RomPages = 4;
    private readonly StateTestHost _host = new();
    private readonly VirtualMachine _target;
    private readonly VmSnapshot _before;

    public RecordRuleTests()
    {
        _target = _host.NewVm("target");
        GuestContent.FillOther(_target, seed: 3);
        _before = VmSnapshot.Take(_host.Gmm, _target);
    }

    [Fact]
    public void RecordsThatNeedMorePagesThanTheHeaderDeclaredStillRestore()
    {
        byte[] state = Craft(declaredNonZero: 0, w =>
        {
            for (int p = 0; p < StateTestHost.RamPages; p++) Raw(w, RecordType.Raw, seed: p);
            Roms(w);
        }, endNonZero: StateTestHost.RamPages + RomPages);

        RestoreSummary summary = StateTestHost.Restore(_target, state);

        Assert.Equal(0, summary.PagesAllocatedUpFront);
        Assert.True(summary.PagesAllocatedLater >= StateTestHost.RamPages + RomPages);
        Assert.Equal(StateTestHost.Bytes(Paging.PageSize, seed: 7), VmSnapshot.Content(_target).AsSpan(7 * Paging.PageSize, Paging.PageSize).ToArray());
        _host.Gmm.Verify();
    }

    [Theory]
    [InlineData("skip-in-first-pass", "SKIP record in the first pass")]
    [InlineData("raw-on-rom", "Raw record for page 0 of Rom")]
    [InlineData("rom-on-ram", "Rom record for page 0 of Ram")]
    [InlineData("zero-on-rom", "Zero record for page 0 of Rom")]
    [InlineData("pass-ends-early", "pass 2 starts after 100 of 516 pages")]
    [InlineData("pass-out-of-order", "pass 3 starts after")]
    [InlineData("too-many-pages", "where 0 pages of pass 1 remain")]
    [InlineData("reference-to-earlier-pass", "not one defined in pass 2")]
    [InlineData("reference-to-undefined", "not one defined in pass 1")]
    [InlineData("shared-index-gap", "shared content 1 where content 0 comes next")]
    [InlineData("shared-hash-wrong", "does not match its hash")]
    [InlineData("end-figures-wrong", "END declares")]
    [InlineData("migration-record", "unknown record type 9")]
    public void ARuleBrokenBehindValidCrcsIsRefused(string violation, string reason)
    {
        byte[] state = violation switch
        {
            "skip-in-first-pass" => Craft(0, w => { w.Run(RecordType.Skip, StateTestHost.RamPages); Roms(w); }),
            "raw-on-rom" => Craft(RomPages, w => { w.Run(RecordType.Zero, StateTestHost.RamPages); Raw(w, RecordType.Raw, 1); }),
            "rom-on-ram" => Craft(1, w => Raw(w, RecordType.Rom, 1)),
            "zero-on-rom" => Craft(0, w => w.Run(RecordType.Zero, StateTestHost.RamPages + 1)),
            "pass-ends-early" => Craft(0, w => { w.Run(RecordType.Zero, 100); w.BeginPass(2); }),
            "pass-out-of-order" => Craft(RomPages, w => { FirstPass(w); w.BeginPass(3); }),
            "too-many-pages" => Craft(RomPages, w => { FirstPass(w); w.Run(RecordType.Zero, 1); }),
            "reference-to-earlier-pass" => Craft(RomPages + 1, w =>
            {
                Shared(w, index: 0, seed: 1);
                w.Run(RecordType.Zero, StateTestHost.RamPages - 1);
                Roms(w);
                w.BeginPass(2);
                w.SharedRef(0);
            }),
            "reference-to-undefined" => Craft(RomPages + 1, w => w.SharedRef(0)),
            "shared-index-gap" => Craft(RomPages + 1, w => Shared(w, index: 1, seed: 1)),
            "shared-hash-wrong" => Craft(RomPages + 1, w => Shared(w, index: 0, seed: 1, hashOffset: 1)),
            "end-figures-wrong" => Craft(RomPages, FirstPass, endNonZero: RomPages + 1),
            "migration-record" => Craft(RomPages, w => w.Fields(RecordType.ContentRef, new byte[16])), // a migration stream's CONTENT_REF
            _ => throw new ArgumentException(violation),
        };

        GmmException e = Assert.Throws<GmmException>(() => StateTestHost.Restore(_target, state));

        Assert.Equal(GmmError.StateCorrupt, e.Error);
        Assert.Contains(reason, e.Message);
        _before.AssertUnchanged(VmSnapshot.Take(_host.Gmm, _target));
        _host.Gmm.Verify();
    }

    public void Dispose() => _host.Dispose();

    /// <summary>A state of the standard layout with the given records and an END of one pass, no shared contents, no balloon.</summary>
    private byte[] Craft(long declaredNonZero, Action<StateWriter> records, long endNonZero = RomPages)
    {
        var stream = new MemoryStream();
        var writer = new StateWriter(stream);
        writer.WriteHeader(new StateHeader(StateLayout.Of(_target.Memory.Ranges), declaredNonZero, 0, 0));
        records(writer);
        writer.Finish(1, endNonZero, 0, 0);
        return stream.ToArray();
    }

    private static void FirstPass(StateWriter w)
    {
        w.Run(RecordType.Zero, StateTestHost.RamPages);
        Roms(w);
    }

    private static void Roms(StateWriter w)
    {
        for (int i = 0; i < RomPages; i++) Raw(w, RecordType.Rom, seed: 100 + i);
    }

    private static void Raw(StateWriter w, RecordType type, int seed)
    {
        w.EnsureRoom();
        StateTestHost.Bytes(Paging.PageSize, seed).CopyTo(w.BeginPage(type, 0));
        w.EndPage();
    }

    private static void Shared(StateWriter w, uint index, int seed, ulong hashOffset = 0)
    {
        byte[] page = StateTestHost.Bytes(Paging.PageSize, seed);
        w.EnsureRoom();
        Span<byte> record = w.BeginPage(RecordType.Shared, 12);
        BinaryPrimitives.WriteUInt64LittleEndian(record, PageHash.Compute(page) + hashOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(record[8..], index);
        page.CopyTo(record[12..]);
        w.EndPage();
    }
}
