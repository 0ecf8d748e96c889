using System.Globalization;
using System.Text;
using GuestMemory.Gmm;

namespace GuestMemory.Cli.Report;

/// <summary>
/// Draws the Gmm's chunks as an SVG map: one tile per 2 MiB chunk (32 × 16 pages), each page coloured by
/// state and, for private pages, by owning VM. Fragmentation is visible at a glance: many half-grey
/// tiles mean memory the host cannot get back. Hand-written; plotting packages (ScottPlot, OxyPlot) are
/// served here too, but none was weighed against it yet.
/// </summary>
public static class ChunkMapSvg
{
    private const int Cell = 3, TileColumns = 32, TileRows = 16, Gap = 4, LegendHeight = 40;

    private static readonly string[] VmColours =
        ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1", "#9c755f", "#ff9da7", "#edc948", "#86bcb6"];

    /// <summary>The colour of a VM's pages in maps and charts.</summary>
    public static string ColourOf(VmHandle vm) => VmColours[(vm.Value - 1 + VmColours.Length) % VmColours.Length];

    /// <summary>Renders <paramref name="chunks"/> with a title and a legend of VM names.</summary>
    /// <param name="title">The map's title.</param>
    /// <param name="chunks">The chunks, in the order drawn.</param>
    /// <param name="vmNames">The name of each VM whose pages are drawn (the legend).</param>
    /// <param name="tilesPerRow">Chunks per row of the map: 16 make it 1,604 px wide, 10 fit a 1,000 px page at full size.</param>
    public static string Render(string title, IReadOnlyList<ChunkPicture> chunks, IReadOnlyDictionary<VmHandle, string> vmNames, int tilesPerRow = 16)
    {
        int perRow = Math.Max(1, tilesPerRow);
        int tileWidth = TileColumns * Cell, tileHeight = TileRows * Cell;
        int rows = Math.Max(1, (chunks.Count + perRow - 1) / perRow);
        int width = Math.Max(perRow * (tileWidth + Gap) + Gap, 520);
        int height = 30 + rows * (tileHeight + Gap) + Gap + LegendHeight;
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">");
        svg.Append(CultureInfo.InvariantCulture, $"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/><text x=\"{Gap}\" y=\"18\" font-size=\"14\" font-weight=\"bold\">{Escape(title)}</text>");
        for (int t = 0; t < chunks.Count; t++)
        {
            int x0 = Gap + t % perRow * (tileWidth + Gap), y0 = 30 + t / perRow * (tileHeight + Gap);
            svg.Append(CultureInfo.InvariantCulture, $"<g><title>chunk {chunks[t].ChunkId}</title><rect x=\"{x0}\" y=\"{y0}\" width=\"{tileWidth}\" height=\"{tileHeight}\" fill=\"#eeeeee\"/>");
            AppendPages(svg, chunks[t], x0, y0);
            svg.Append("</g>");
        }
        AppendLegend(svg, vmNames, Gap, height - LegendHeight + 16);
        svg.Append("</svg>");
        return svg.ToString();
    }

    /// <summary>Draws runs of same-coloured pages in each tile row as one rectangle (keeps the file small).</summary>
    private static void AppendPages(StringBuilder svg, ChunkPicture chunk, int x0, int y0)
    {
        for (int row = 0; row < TileRows; row++)
        {
            for (int col = 0; col < TileColumns;)
            {
                string? colour = ColourOfPage(chunk, row * TileColumns + col);
                int run = 1;
                while (col + run < TileColumns && ColourOfPage(chunk, row * TileColumns + col + run) == colour) run++;
                if (colour != null)
                    svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{x0 + col * Cell}\" y=\"{y0 + row * Cell}\" width=\"{run * Cell}\" height=\"{Cell}\" fill=\"{colour}\"/>");
                col += run;
            }
        }
    }

    private static string? ColourOfPage(ChunkPicture chunk, int index) => chunk.States[index] switch
    {
        HostPageState.Private => ColourOf(chunk.Owners[index]),
        HostPageState.Shared => "#222222",
        _ => null,
    };

    private static void AppendLegend(StringBuilder svg, IReadOnlyDictionary<VmHandle, string> vmNames, int x, int y)
    {
        var entries = new List<(string Colour, string Label)> { ("#eeeeee", "free"), ("#222222", "shared") };
        entries.AddRange(vmNames.OrderBy(v => v.Key.Value).Select(v => (ColourOf(v.Key), v.Value)));
        foreach ((string colour, string label) in entries)
        {
            svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{x}\" y=\"{y - 10}\" width=\"12\" height=\"12\" fill=\"{colour}\" stroke=\"#999\"/><text x=\"{x + 16}\" y=\"{y}\">{Escape(label)}</text>");
            x += 26 + 7 * label.Length;
        }
    }

    internal static string Escape(string text) => System.Security.SecurityElement.Escape(text) ?? "";
}
