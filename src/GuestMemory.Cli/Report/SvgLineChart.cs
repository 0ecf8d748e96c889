using System.Globalization;
using System.Text;

namespace GuestMemory.Cli.Report;

/// <summary>
/// A small SVG line chart: several series over a shared x axis (seconds), with axes fitted to the data
/// (round-number ticks, the x axis ending at the last point), optional dashed lines for limits, labelled
/// markers for events, and a legend. Enough for "host RSS against guest RAM promised over time";
/// hand-written (plotting packages such as ScottPlot and OxyPlot are served here too, but none was weighed against it yet).
/// </summary>
public static class SvgLineChart
{
    private const int Width = 900, Height = 380, Left = 70, Right = 20, Top = 76, Bottom = 64, MarkerRows = 3, CharWidth = 7;

    /// <summary>One line: a name, a colour and (x, y) points; a dashed line reads as a limit, not a measurement.</summary>
    public sealed record Series(string Name, string Colour, IReadOnlyList<(double X, double Y)> Points, bool Dashed = false);

    /// <summary>An event at <paramref name="X"/>: a dotted vertical line with its label above the plot.</summary>
    public sealed record Marker(double X, string Label);

    /// <summary>Renders the series; <paramref name="yUnit"/> labels the y axis (e.g. "MiB").</summary>
    public static string Render(string title, string xUnit, string yUnit, IReadOnlyList<Series> series, IReadOnlyList<Marker>? markers = null)
    {
        markers ??= [];
        var all = series.SelectMany(s => s.Points).ToArray();
        double xMax = all.Length == 0 ? 1 : Math.Max(all.Max(p => p.X), 1e-9);
        double xStep = TickStep(xMax);
        double yStep = TickStep(all.Length == 0 ? 1 : Math.Max(all.Max(p => p.Y), 1e-9));
        double yMax = Math.Ceiling((all.Length == 0 ? 1 : Math.Max(all.Max(p => p.Y), 1e-9)) / yStep) * yStep;
        double plotWidth = Width - Left - Right, plotHeight = Height - Top - Bottom;
        double Px(double x) => Left + x / xMax * plotWidth;
        double Py(double y) => Top + plotHeight - y / yMax * plotHeight;

        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\" font-family=\"sans-serif\" font-size=\"13\">");
        svg.Append(CultureInfo.InvariantCulture, $"<rect width=\"{Width}\" height=\"{Height}\" fill=\"white\"/><text x=\"{Left}\" y=\"22\" font-size=\"15\" font-weight=\"bold\">{ChunkMapSvg.Escape(title)}</text>");
        for (double y = 0; y <= yMax + yStep / 2; y += yStep)
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{Left}\" x2=\"{Width - Right}\" y1=\"{Py(y):0.#}\" y2=\"{Py(y):0.#}\" stroke=\"#ddd\"/><text x=\"{Left - 6}\" y=\"{Py(y) + 4:0.#}\" text-anchor=\"end\">{y:0.##}</text>");
        for (double x = 0; x <= xMax + xStep / 1000; x += xStep)
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Px(x):0.#}\" y=\"{Top + plotHeight + 16}\" text-anchor=\"middle\">{x:0.##}</text>");
        svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{Left}\" x2=\"{Left}\" y1=\"{Top}\" y2=\"{Top + plotHeight}\" stroke=\"#333\"/><line x1=\"{Left}\" x2=\"{Width - Right}\" y1=\"{Top + plotHeight}\" y2=\"{Top + plotHeight}\" stroke=\"#333\"/>");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left + plotWidth / 2:0.#}\" y=\"{Top + plotHeight + 32}\" text-anchor=\"middle\">{ChunkMapSvg.Escape(xUnit)}</text>");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"14\" y=\"{Top + plotHeight / 2:0.#}\" transform=\"rotate(-90 14 {Top + plotHeight / 2:0.#})\" text-anchor=\"middle\">{ChunkMapSvg.Escape(yUnit)}</text>");
        var rowEnds = new double[MarkerRows];
        Array.Fill(rowEnds, double.NegativeInfinity);
        foreach (Marker marker in markers.OrderBy(m => m.X))
        {
            double x = Px(Math.Clamp(marker.X, 0, xMax));
            // A label that would run past the right edge ends at its line instead of starting there; each goes
            // into the lowest of three rows above the plot where it overlaps no other label.
            double textWidth = CharWidth * marker.Label.Length;
            bool flip = x + 3 + textWidth > Width - Right;
            double start = flip ? x - 3 - textWidth : x + 3;
            int row = Array.FindIndex(rowEnds, end => end < start - 6);
            if (row < 0) row = Array.IndexOf(rowEnds, rowEnds.Min());
            rowEnds[row] = start + textWidth;
            svg.Append(CultureInfo.InvariantCulture, $"<g class=\"marker\"><line x1=\"{x:0.#}\" x2=\"{x:0.#}\" y1=\"{Top - 10 - row * 15}\" y2=\"{Top + plotHeight}\" stroke=\"#555\" stroke-dasharray=\"2 3\"/>");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{(flip ? x - 3 : x + 3):0.#}\" y=\"{Top - 12 - row * 15}\" font-size=\"12\" fill=\"#333\"{(flip ? " text-anchor=\"end\"" : "")}>{ChunkMapSvg.Escape(marker.Label)}</text></g>");
        }
        double legendX = Left;
        foreach (Series s in series)
        {
            string dash = s.Dashed ? " stroke-dasharray=\"8 5\"" : "";
            if (s.Points.Count > 0)
                svg.Append(CultureInfo.InvariantCulture, $"<polyline fill=\"none\" stroke=\"{s.Colour}\" stroke-width=\"2\"{dash} points=\"{string.Join(' ', s.Points.Select(p => string.Create(CultureInfo.InvariantCulture, $"{Px(p.X):0.#},{Py(p.Y):0.#}")))}\"/>");
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{legendX:0.#}\" x2=\"{legendX + 18:0.#}\" y1=\"{Height - 14}\" y2=\"{Height - 14}\" stroke=\"{s.Colour}\" stroke-width=\"3\"{dash}/><text x=\"{legendX + 22:0.#}\" y=\"{Height - 10}\">{ChunkMapSvg.Escape(s.Name)}</text>");
            legendX += 36 + 7.5 * s.Name.Length;
        }
        svg.Append("</svg>");
        return svg.ToString();
    }

    /// <summary>A round tick step (1, 2, 2.5 or 5 times a power of ten) that cuts 0..<paramref name="max"/> into 4 to 8 parts.</summary>
    internal static double TickStep(double max)
    {
        double rough = max / 6;
        double power = Math.Pow(10, Math.Floor(Math.Log10(rough)));
        foreach (double step in new[] { 1.0, 2.0, 2.5, 5.0, 10.0 })
            if (step * power >= rough) return step * power;
        return 10 * power;
    }
}
