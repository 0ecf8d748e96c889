namespace GuestMemory.Qemu.Tests.Support;

/// <summary>The sections of a recorded stream: where each begins and ends and what kind it is, found by reading it.</summary>
public sealed record StreamSection(string Kind, int Start, int End)
{
    public int Length => End - Start;

    /// <summary>Header (magic, version, configuration), ram setup, ram parts, ram end, devices, end (EOF and description), in stream order.</summary>
    public static IReadOnlyList<StreamSection> Of(byte[] stream)
    {
        var reader = new QemuStreamReader(new MemoryStream(stream));
        var layout = new LayoutSink(() => reader.Position);
        reader.Read(layout);
        var sections = new List<StreamSection>();
        int at = 0;
        string? ramKind = null;
        foreach ((string kind, long position) in layout.Items)
        {
            int p = (int)position;
            switch (kind)
            {
                case "configuration":
                    sections.Add(new("header", 0, p));
                    at = p;
                    break;
                case "ram-start":
                    sections.Add(new("ram-setup", at, p + 13)); // EOS record and footer follow the block list
                    at = p + 13;
                    break;
                case "ram-part" or "ram-end":
                    ramKind = kind;
                    break;
                case "ram-footer":
                    sections.Add(new(ramKind!, at, p));
                    at = p;
                    break;
                case "device":
                    sections.Add(new("device", at, p));
                    at = p;
                    break;
                case "end":
                    sections.Add(new("end", at, p));
                    break;
            }
        }
        return sections;
    }
}
