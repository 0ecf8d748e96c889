using System.Xml.Linq;
using GuestMemory.Cli.Report;
using GuestMemory.Gmm;
using GuestMemory.Tests.Compaction;

namespace GuestMemory.Tests.Cli;

/// <summary>The chunk map: well-formed SVG, one tile per committed chunk, each VM's pages in a colour of its own.</summary>
public sealed class ChunkMapSvgTests
{
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";

    [Fact]
    public void The_map_is_well_formed_svg_with_one_tile_per_chunk()
    {
        using var rig = new CompactionRig(spareChunks: 1);
        VirtualMachine a = rig.AddVm(1024), b = rig.AddVm(1024);
        rig.Fragment(1024, a, b);
        IReadOnlyList<ChunkPicture> map = rig.Gmm.Pages.GetChunkMap();

        XDocument svg = XDocument.Parse(ChunkMapSvg.Render("before <compaction> & after", map, Names(a, b)));

        string[] tiles = Tiles(svg).Select(g => (string)g.Element(Svg + "title")!).ToArray();
        Assert.Equal(rig.Gmm.Statistics.Chunks, tiles.Length);
        Assert.Equal(map.Select(c => $"chunk {c.ChunkId}"), tiles);
        Assert.Contains(svg.Descendants(Svg + "text"), t => t.Value == "before <compaction> & after");
    }

    [Fact]
    public void Each_vm_has_its_own_colour_and_free_pages_draw_none()
    {
        using var rig = new CompactionRig();
        VirtualMachine a = rig.AddVm(1024), b = rig.AddVm(1024);
        rig.Fragment(1024, a, b);

        XDocument svg = XDocument.Parse(ChunkMapSvg.Render("map", rig.Gmm.Pages.GetChunkMap(), Names(a, b)));

        string colourA = ChunkMapSvg.ColourOf(a.Handle), colourB = ChunkMapSvg.ColourOf(b.Handle);
        Assert.NotEqual(colourA, colourB);
        HashSet<string>[] tileColours = Tiles(svg).Select(g => g.Elements(Svg + "rect").Skip(1).Select(r => (string)r.Attribute("fill")!).ToHashSet()).ToArray();
        Assert.Contains(tileColours, c => c.SetEquals([colourA]));
        Assert.Contains(tileColours, c => c.SetEquals([colourB]));
        // Only pages in use are drawn (run-length rectangles, 3 px a page): free ones show the tile's background.
        Assert.Equal(3 * rig.Gmm.Statistics.AllocatedPages, Tiles(svg).Sum(g => g.Elements(Svg + "rect").Skip(1).Sum(r => (int)r.Attribute("width")!)));
        Assert.Contains(svg.Descendants(Svg + "text"), t => t.Value == a.Name);
    }

    [Fact]
    public void The_map_after_compaction_has_fewer_tiles_and_they_are_full()
    {
        using var rig = new CompactionRig();
        VirtualMachine vm = rig.AddVm(2048);
        rig.Fragment(2048, vm);

        rig.Compactor.Run();
        XDocument svg = XDocument.Parse(ChunkMapSvg.Render("after", rig.Gmm.Pages.GetChunkMap(), Names(vm)));

        Assert.Equal(2, Tiles(svg).Count());
        Assert.All(Tiles(svg), g => Assert.Equal(512 * 3, g.Elements(Svg + "rect").Skip(1).Sum(r => (int)r.Attribute("width")!)));
    }

    private static IEnumerable<XElement> Tiles(XDocument svg) =>
        svg.Root!.Elements(Svg + "g").Where(g => ((string?)g.Element(Svg + "title"))?.StartsWith("chunk ") == true);

    private static Dictionary<VmHandle, string> Names(params VirtualMachine[] vms) => vms.ToDictionary(v => v.Handle, v => v.Name);
}
