using System.Globalization;
using System.Text;

namespace GuestMemory.Cli.Report;

/// <summary>
/// A small SVG line chart: several series over a shared x axis (seconds), with axes, round-number
/// ticks and a legend. Enough for "host RSS against guest RAM promised over time"; hand-written
/// (plotting packages such as ScottPlot and OxyPlot are served here too, but none was weighed against it yet).
/// </summary>
public static class SvgLineChart
{
    private const int Width = 760, Height = 320, Left = 70, Right = 20, Top = 36, Bottom = 60;

    /// <summary>One line: a name, a colour and (x, y) points.</summary>
    public sealed record Series(string Name, string Colour, IReadOnlyList<(double X, double Y)> Points);

    /// <summary>Renders the series; <paramref name="yUnit"/> labels the y axis (e.g. "MiB").</summary>
    public static string Render(string title, string xUnit, string yUnit, IReadOnlyList<Series> series)
    {
        var all = series.SelectMany(s => s.Points).ToArray();
        double xMax = NiceCeiling(all.Length == 0 ? 1 : Math.Max(all.Max(p => p.X), 1e-9));
        double yMax = NiceCeiling(all.Length == 0 ? 1 : Math.Max(all.Max(p => p.Y), 1e-9));
        double plotWidth = Width - Left - Right, plotHeight = Height - Top - Bottom;
        double Px(double x) => Left + x / xMax * plotWidth;
        double Py(double y) => Top + plotHeight - y / yMax * plotHeight;

        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\" font-family=\"sans-serif\" font-size=\"12\">");
        svg.Append(CultureInfo.InvariantCulture, $"<rect width=\"{Width}\" height=\"{Height}\" fill=\"white\"/><text x=\"{Left}\" y=\"22\" font-size=\"14\" font-weight=\"bold\">{ChunkMapSvg.Escape(title)}</text>");
        for (int i = 0; i <= 4; i++)
        {
            double y = yMax * i / 4;
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{Left}\" x2=\"{Width - Right}\" y1=\"{Py(y):0.#}\" y2=\"{Py(y):0.#}\" stroke=\"#ddd\"/><text x=\"{Left - 6}\" y=\"{Py(y) + 4:0.#}\" text-anchor=\"end\">{y:0.##}</text>");
            double x = xMax * i / 4;
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Px(x):0.#}\" y=\"{Top + plotHeight + 16}\" text-anchor=\"middle\">{x:0.#}</text>");
        }
        svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{Left}\" x2=\"{Left}\" y1=\"{Top}\" y2=\"{Top + plotHeight}\" stroke=\"#333\"/><line x1=\"{Left}\" x2=\"{Width - Right}\" y1=\"{Top + plotHeight}\" y2=\"{Top + plotHeight}\" stroke=\"#333\"/>");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left + plotWidth / 2:0.#}\" y=\"{Top + plotHeight + 32}\" text-anchor=\"middle\">{ChunkMapSvg.Escape(xUnit)}</text>");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"14\" y=\"{Top + plotHeight / 2:0.#}\" transform=\"rotate(-90 14 {Top + plotHeight / 2:0.#})\" text-anchor=\"middle\">{ChunkMapSvg.Escape(yUnit)}</text>");
        double legendX = Left;
        foreach (Series s in series)
        {
            if (s.Points.Count > 0)
                svg.Append(CultureInfo.InvariantCulture, $"<polyline fill=\"none\" stroke=\"{s.Colour}\" stroke-width=\"2\" points=\"{string.Join(' ', s.Points.Select(p => string.Create(CultureInfo.InvariantCulture, $"{Px(p.X):0.#},{Py(p.Y):0.#}")))}\"/>");
            svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{legendX:0.#}\" y=\"{Height - 18}\" width=\"12\" height=\"4\" fill=\"{s.Colour}\"/><text x=\"{legendX + 16:0.#}\" y=\"{Height - 12}\">{ChunkMapSvg.Escape(s.Name)}</text>");
            legendX += 30 + 7 * s.Name.Length;
        }
        svg.Append("</svg>");
        return svg.ToString();
    }

    /// <summary>1, 2 or 5 times a power of ten, at least <paramref name="value"/>: ticks people can read.</summary>
    internal static double NiceCeiling(double value)
    {
        double power = Math.Pow(10, Math.Floor(Math.Log10(value)));
        foreach (double step in new[] { 1.0, 2.0, 5.0, 10.0 })
            if (step * power >= value) return step * power;
        return 10 * power;
    }
}
