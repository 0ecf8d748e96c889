using GuestMemory.Gmm;
using GuestMemory.Phys;

namespace GuestMemory.Tests.Phys;

/// <summary>One packed 8-byte entry per guest page, and every field of it round-trips.</summary>
public sealed class GuestPageEntryTests
{
    [Fact]
    public void Every_ram_and_rom_range_holds_one_ulong_per_page()
    {
        using GlobalMemoryManager gmm = TestVms.CreateManager();
        using VirtualMachine vm = gmm.AddVm(ramPages: 64);
        vm.Memory.RegisterRom(0x10_0000, new byte[5000], RomWriteMode.Ignore, "rom");
        foreach (MemoryRange range in vm.Memory.Ranges)
        {
            Assert.Equal(range.PageCount, range.Entries.Length);
            Assert.Equal(range.PageCount * sizeof(ulong), range.Entries.AsSpan().Length * sizeof(ulong));
        }
        Assert.Equal(8, sizeof(ulong));
        gmm.Verify();
    }

    public static TheoryData<GuestPageType, GuestPageState> TypesAndStates()
    {
        var data = new TheoryData<GuestPageType, GuestPageState>();
        foreach (GuestPageType type in Enum.GetValues<GuestPageType>())
            foreach (GuestPageState state in Enum.GetValues<GuestPageState>())
                data.Add(type, state);
        return data;
    }

    [Theory]
    [MemberData(nameof(TypesAndStates))]
    public void Packing_round_trips_every_field(GuestPageType type, GuestPageState state)
    {
        foreach (uint page in new uint[] { 0, 1, 0x1234_5678, uint.MaxValue })
        foreach (int readLocks in new[] { 0, 1, GuestPage.MaxMappings })
        foreach (int writeLocks in new[] { 0, 1, GuestPage.MaxMappings })
        foreach (int volatility in new[] { 0, 7, GuestPage.MaxVolatility })
        foreach (ulong flags in new[] { 0UL, GuestPage.WrittenToFlag, GuestPage.DirtyFlag, GuestPage.WrittenToFlag | GuestPage.DirtyFlag })
        {
            ulong e = GuestPage.Make(type, state, new PageId(page)) | flags;
            e = GuestPage.AddReadLock(e, readLocks);
            e = GuestPage.AddWriteLock(e, writeLocks);
            e = GuestPage.WithVolatility(e, volatility);

            Assert.Equal(type, GuestPage.Type(e));
            Assert.Equal(state, GuestPage.State(e));
            Assert.Equal(page, GuestPage.Page(e).Value);
            Assert.Equal(readLocks, GuestPage.ReadLocks(e));
            Assert.Equal(writeLocks, GuestPage.WriteLocks(e));
            Assert.Equal(volatility, GuestPage.Volatility(e));
            Assert.Equal((flags & GuestPage.WrittenToFlag) != 0, GuestPage.IsWrittenTo(e));
            Assert.Equal((flags & GuestPage.DirtyFlag) != 0, GuestPage.IsDirty(e));
            Assert.Equal(readLocks + writeLocks > 0, GuestPage.IsLocked(e));
            Assert.Equal(state is GuestPageState.Allocated or GuestPageState.WriteMonitored or GuestPageState.Shared, GuestPage.HasHostPage(e));
            Assert.Equal(type == GuestPageType.Ram && state == GuestPageState.Allocated, GuestPage.IsDirectlyWritable(e));

            // Unlocking and changing state touch nothing else.
            ulong unlocked = GuestPage.AddWriteLock(GuestPage.AddReadLock(e, -readLocks), -writeLocks);
            Assert.False(GuestPage.IsLocked(unlocked));
            Assert.Equal(e & ~(0xFFFFUL << 37), unlocked);
            ulong moved = GuestPage.WithState(e, GuestPageState.Shared, new PageId(42));
            Assert.Equal((GuestPageState.Shared, 42u, type, readLocks, writeLocks, volatility),
                (GuestPage.State(moved), GuestPage.Page(moved).Value, GuestPage.Type(moved), GuestPage.ReadLocks(moved), GuestPage.WriteLocks(moved), GuestPage.Volatility(moved)));
        }
    }

    [Fact]
    public void Volatility_saturates_instead_of_spilling_into_the_type()
    {
        ulong e = GuestPage.Make(GuestPageType.Ram, GuestPageState.Allocated, new PageId(7));
        Assert.Equal(GuestPage.MaxVolatility, GuestPage.Volatility(GuestPage.WithVolatility(e, 100)));
        Assert.Equal(GuestPageType.Ram, GuestPage.Type(GuestPage.WithVolatility(e, 100)));
        Assert.Equal(0, GuestPage.Volatility(GuestPage.WithVolatility(e, -3)));
    }

    [Fact]
    public void The_unchanged_marker_of_a_staged_image_names_no_host_page()
    {
        // A staged incremental image fills its entries with the marker; releasing it must not free page 0xFFFFFFFF.
        Assert.False(GuestPage.HasHostPage(GuestPage.Unchanged));
        Assert.DoesNotContain(GuestPage.Type(GuestPage.Unchanged), Enum.GetValues<GuestPageType>()); // no real entry equals it
    }
}
