using System.Buffers.Binary;
using GuestMemory.State;

namespace GuestMemory.Tests.State;

/// <summary>
/// A truncated, corrupted, wrong-version or oversized state is refused with a typed error and the VM
/// unchanged: every page, entry and account as before, and the cross-layer check clean.
/// </summary>
public sealed class CorruptStateTests : IDisposable
{
    private static readonly GmmError[] BadStateErrors = [GmmError.StateCorrupt, GmmError.StateTruncated, GmmError.StateTooLarge, GmmError.StateVersionUnsupported];
    private readonly StateTestHost _host = new();
    private readonly byte[] _state;
    private readonly VirtualMachine _target;
    private readonly VmSnapshot _before;

    public CorruptStateTests()
    {
        (_, _state) = _host.SavedMixedVm("source", seed: 1);
        _target = _host.NewVm("target");
        GuestContent.FillOther(_target, seed: 9);
        _before = VmSnapshot.Take(_host.Gmm, _target);
    }

    private int HeaderLength => BinaryPrimitives.ReadInt32LittleEndian(_state.AsSpan(12));

    [Fact]
    public void AStateCutShortAnywhereIsRefused()
    {
        var cuts = Enumerable.Range(0, HeaderLength + 20)                              // every byte of the header and the first block header
            .Concat(Enumerable.Range(1, 60).Select(i => (int)((long)_state.Length * i / 61))) // through the blocks
            .Concat(Enumerable.Range(_state.Length - 60, 60))                          // every byte of END and the block before it
            .Distinct();
        foreach (int length in cuts) AssertRefused(_state[..length], GmmError.StateTruncated);
    }

    [Fact]
    public void EverySingleFlippedByteIsRefused()
    {
        var random = new Random(20240607);
        int blocksEnd = _state.Length - 56;
        var positions = Enumerable.Range(0, 40).Select(_ => random.Next(HeaderLength))
            .Concat(Enumerable.Range(0, 220).Select(_ => random.Next(HeaderLength, blocksEnd)))
            .Concat(Enumerable.Range(0, 40).Select(_ => random.Next(blocksEnd, _state.Length)));
        foreach (int position in positions)
        {
            byte[] bad = (byte[])_state.Clone();
            bad[position] ^= (byte)random.Next(1, 256);
            AssertRefused(bad, BadStateErrors);
        }
    }

    [Fact]
    public void AnotherFormatVersionIsRefused()
    {
        byte[] bad = (byte[])_state.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(bad.AsSpan(8), 2);
        ResealHeader(bad);
        AssertRefused(bad, GmmError.StateVersionUnsupported);
    }

    [Theory]
    [InlineData(40, 513 + 4 + 1)]          // more non-zero pages than the layout has
    [InlineData(40, 1L << 40)]             // absurdly many, refused before anything is allocated
    [InlineData(48, 1000)]                 // more shared contents than non-zero pages
    [InlineData(56, 513)]                  // more ballooned pages than RAM pages
    public void DeclaredCountsBeyondTheLayoutAreRefusedBeforeAllocating(int offset, long count)
    {
        byte[] bad = (byte[])_state.Clone();
        BinaryPrimitives.WriteInt64LittleEndian(bad.AsSpan(offset), count);
        ResealHeader(bad);
        AssertRefused(bad, GmmError.StateTooLarge, exactHost: true);
    }

    [Fact]
    public void AHeaderOrBlockLongerThanTheFormatAllowsIsRefusedBeforeItIsRead()
    {
        byte[] header = (byte[])_state.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(12), 100_000);
        AssertRefused(header[..16], GmmError.StateTooLarge, exactHost: true);

        byte[] block = (byte[])_state.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(block.AsSpan(HeaderLength + 8), (1 << 20) + 1);
        AssertRefused(block[..(HeaderLength + 16)], GmmError.StateTooLarge);
    }

    [Fact]
    public void BlocksInAnotherOrderAreRefused()
    {
        using var host = new StateTestHost();
        byte[] state = StateTestHost.StateWithDataPages(StateTestHost.RamPages); // two blocks
        VirtualMachine target = host.NewVm("target");
        int first = BinaryPrimitives.ReadInt32LittleEndian(state.AsSpan(12));
        int firstLength = 16 + BinaryPrimitives.ReadInt32LittleEndian(state.AsSpan(first + 8));
        int secondLength = 16 + BinaryPrimitives.ReadInt32LittleEndian(state.AsSpan(first + firstLength + 8));
        byte[] swapped = [.. state[..first], .. state.AsSpan(first + firstLength, secondLength), .. state.AsSpan(first, firstLength), .. state[(first + firstLength + secondLength)..]];

        Assert.Equal(GmmError.StateCorrupt, Assert.Throws<GmmException>(() => StateTestHost.Restore(target, swapped)).Error);
        host.Gmm.Verify();
    }

    public void Dispose() => _host.Dispose();

    private void AssertRefused(byte[] state, GmmError expected, bool exactHost = false) => AssertRefused(state, [expected], exactHost);

    private void AssertRefused(byte[] state, GmmError[] expected, bool exactHost = false)
    {
        GmmException e = Assert.Throws<GmmException>(() => StateTestHost.Restore(_target, state));
        Assert.Contains(e.Error, expected);
        _before.AssertUnchanged(VmSnapshot.Take(_host.Gmm, _target), exactHost);
        Assert.Empty(_host.Gmm.FindInconsistencies());
    }

    /// <summary>Recomputes the header CRC, as a writer with other ideas would have.</summary>
    private static void ResealHeader(byte[] state)
    {
        int length = BinaryPrimitives.ReadInt32LittleEndian(state.AsSpan(12));
        BinaryPrimitives.WriteUInt32LittleEndian(state.AsSpan(length - 4), Crc32C.Compute(state.AsSpan(0, length - 4)));
    }
}
