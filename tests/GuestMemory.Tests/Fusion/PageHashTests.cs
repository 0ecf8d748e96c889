using System.Numerics;
using System.Text;
using GuestMemory.Fusion;

namespace GuestMemory.Tests.Fusion;

/// <summary>The page hash and the page content tests, checked against known vectors and a software model.</summary>
public sealed class PageHashTests
{
    private const uint Crc32CCheckValue = 0xE3069283; // CRC-32C of "123456789" (RFC 3720, iSCSI)

    [Fact]
    public void Software_crc32c_gives_the_standard_check_value()
    {
        Assert.Equal(Crc32CCheckValue, ScalarPageHash.StandardCrc32C("123456789"u8));
    }

    [Fact]
    public void Hardware_crc32c_gives_the_standard_check_value()
    {
        uint crc = ~0u;
        foreach (byte b in Encoding.ASCII.GetBytes("123456789")) crc = BitOperations.Crc32C(crc, b);
        Assert.Equal(Crc32CCheckValue, ~crc);
    }

    [Fact]
    public void Hardware_word_crc_equals_the_software_crc_of_its_little_endian_bytes()
    {
        ulong state = 7;
        for (int i = 0; i < 1000; i++)
        {
            uint crc = (uint)TestPages.SplitMix64(ref state);
            ulong word = TestPages.SplitMix64(ref state);
            Assert.Equal(ScalarPageHash.Crc32C(crc, word), BitOperations.Crc32C(crc, word));
        }
    }

    // Pinned with a third, independent implementation (a Python script of the same scheme), so a change
    // of the hash (seeds, lanes, mixing) is noticed even if both C# paths changed together.
    [Theory]
    [InlineData("zero", 0x46C4623E8DA677ADUL)]
    [InlineData("pattern", 0xC04E6BF624882BA1UL)]
    [InlineData("seed42", 0xD41E115534D4BDA1UL)]
    public void Known_pages_hash_to_their_pinned_vectors(string name, ulong expected)
    {
        byte[] page = name switch { "zero" => TestPages.Zero(), "pattern" => TestPages.Pattern(), _ => TestPages.Filled(42) };
        Assert.Equal(expected, ScalarPageHash.Hash(page));
        Assert.Equal(expected, PageHash.Compute(page));
    }

    [Fact]
    public void Hash_equals_the_software_model_on_many_pages()
    {
        for (ulong seed = 1; seed <= 200; seed++)
        {
            byte[] page = TestPages.Filled(seed);
            if (seed % 3 == 0) page.AsSpan(0, (int)(seed * 13 % 4096)).Clear(); // partly zero pages too
            Assert.Equal(ScalarPageHash.Hash(page), PageHash.Compute(page));
        }
    }

    // Also a regression test: folding the lanes with a rotated XOR let single-bit flips in two different
    // lanes collide (bits 4991 and 5250 of this page did).
    [Fact]
    public void Every_single_bit_flip_gives_a_hash_of_its_own()
    {
        byte[] page = TestPages.Filled(3);
        ulong original = PageHash.Compute(page);
        var seen = new HashSet<ulong> { original };
        for (int bit = 0; bit < Paging.PageSize * 8; bit++)
        {
            page[bit / 8] ^= (byte)(1 << (bit % 8));
            Assert.True(seen.Add(PageHash.Compute(page)), $"flipping bit {bit} gave a hash seen before");
            page[bit / 8] ^= (byte)(1 << (bit % 8));
        }
    }

    [Fact]
    public void Hashing_anything_but_one_page_is_refused()
    {
        Assert.Throws<ArgumentException>(() => PageHash.Compute(new byte[Paging.PageSize - 8]));
        Assert.Throws<ArgumentException>(() => PageHash.Compute(new byte[Paging.PageSize + 8]));
    }

    [Fact]
    public void A_constructed_collision_has_the_same_hash_and_other_bytes()
    {
        byte[] page = TestPages.Filled(5);
        byte[] twin = HashCollisions.SameHashOtherBytes(page);
        Assert.False(page.AsSpan().SequenceEqual(twin));
        Assert.Equal(PageHash.Compute(page), PageHash.Compute(twin));
        Assert.False(PageContent.Equal(page, twin));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2047)]
    [InlineData(4095)]
    public void One_non_zero_byte_anywhere_makes_a_page_non_zero(int offset)
    {
        Assert.True(PageContent.IsZero(TestPages.Zero()));
        Assert.False(PageContent.IsZero(TestPages.WithByte(TestPages.Zero(), offset, 1)));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4095)]
    public void One_different_byte_anywhere_makes_pages_unequal(int offset)
    {
        byte[] page = TestPages.Filled(9);
        Assert.True(PageContent.Equal(page, (byte[])page.Clone()));
        Assert.False(PageContent.Equal(page, TestPages.WithByte(page, offset, (byte)(page[offset] + 1))));
    }
}
