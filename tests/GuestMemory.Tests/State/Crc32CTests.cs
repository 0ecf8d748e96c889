using GuestMemory.State;

namespace GuestMemory.Tests.State;

/// <summary>The saved state's CRC-32C is the standard one, whatever the length (the three-lane path joins lanes exactly).</summary>
public sealed class Crc32CTests
{
    [Fact]
    public void TheCheckValueIsTheStandardOne() => Assert.Equal(0xE3069283u, Crc32C.Compute("123456789"u8));

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    [InlineData(4096 * 3 - 1)]
    [InlineData(4096 * 3)]
    [InlineData(4096 * 7 + 13)]
    [InlineData(1 << 20)]
    public void EveryLengthMatchesABitwiseReference(int length)
    {
        byte[] data = StateTestHost.Bytes(length, seed: length);
        Assert.Equal(Bitwise(data), Crc32C.Compute(data));
        Assert.Equal(Bitwise(data), Crc32C.Compute(data.AsSpan(0, length / 3), data.AsSpan(length / 3)));
    }

    /// <summary>The textbook reflected CRC-32C, one bit at a time (polynomial 0x82F63B78).</summary>
    private static uint Bitwise(ReadOnlySpan<byte> data)
    {
        uint crc = ~0u;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int i = 0; i < 8; i++) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1)));
        }
        return ~crc;
    }
}
