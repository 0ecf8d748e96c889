using System.Text;
using GuestMemory.Host;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Host;

/// <summary>Reading the process's real RSS from /proc/self/smaps_rollup.</summary>
public sealed class HostRssTests
{
    private const string Rollup =
        "55d0c0000000-7ffc4a1ff000 ---p 00000000 00:00 0                          [rollup]\n" +
        "Rss:              123456 kB\n" +
        "Pss:               98765 kB\n" +
        "Anonymous:         65432 kB\n";

    [Theory]
    [InlineData("Rss:", 123456)]
    [InlineData("Pss:", 98765)]
    [InlineData("Anonymous:", 65432)]
    public void A_field_is_read_in_kilobytes(string field, long expected) =>
        Assert.Equal(expected, HostRss.ParseKiloBytes(Encoding.ASCII.GetBytes(Rollup), field));

    [Fact]
    public void A_missing_field_is_not_supported()
    {
        GmmAssert.Fails(GmmError.NotSupported, () => HostRss.ParseKiloBytes(Encoding.ASCII.GetBytes(Rollup), "Swap:"));
    }

    [Fact]
    public void A_field_name_inside_another_line_does_not_match()
    {
        byte[] text = Encoding.ASCII.GetBytes("header\nPrivate_Rss: 7 kB\nRss: 9 kB\n");

        Assert.Equal(9, HostRss.ParseKiloBytes(text, "Rss:"));
    }

    [Fact]
    public void The_live_figures_are_plausible()
    {
        long rss = HostRss.ReadBytes();
        long anonymous = HostRss.ReadAnonymousBytes();

        Assert.True(rss > 1 << 20, $"RSS {rss}");
        Assert.InRange(anonymous, 1, rss);
    }
}
