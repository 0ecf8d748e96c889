using Spectre.Console;
using Spectre.Console.Rendering;

namespace GuestMemory.Cli.Output;

/// <summary>
/// Markup that always takes exactly one line: cut with an ellipsis at the width it gets, never wrapped.
/// A live view whose status line wraps on a narrow terminal changes height every frame and leaves
/// debris behind; this one cannot.
/// </summary>
internal sealed class OneLine(string markup) : Renderable
{
    private const int Unbounded = 10_000;
    private readonly Markup _markup = new(markup);

    protected override Measurement Measure(RenderOptions options, int maxWidth) => new(1, maxWidth);

    protected override IEnumerable<Segment> Render(RenderOptions options, int maxWidth)
    {
        List<Segment> segments = [.. ((IRenderable)_markup).Render(options, Unbounded).Where(s => !s.IsLineBreak)];
        if (segments.Sum(s => s.CellCount()) > maxWidth)
            segments = [.. Segment.Truncate(segments, Math.Max(0, maxWidth - 1)), new Segment("…")];
        segments.Add(Segment.LineBreak);
        return segments;
    }
}
