using System.Runtime.InteropServices;

namespace GuestMemory.Cli.Demo;

/// <summary>
/// A stand-in for a guest operating system image: real files of this machine's .NET installation,
/// each starting on a page boundary, as a page cache holds them. Every VM loads the same image, so the
/// pages are identical across VMs, exactly what page sharing is for. Nothing is downloaded.
/// </summary>
internal sealed class OsImage
{
    private OsImage(byte[] bytes, int files) => (Bytes, Files) = (bytes, files);

    /// <summary>The image, a whole number of pages.</summary>
    public byte[] Bytes { get; }

    /// <summary>How many files it holds.</summary>
    public int Files { get; }

    /// <summary>Loads up to <paramref name="bytes"/> bytes of the runtime's own files, in name order (skipping those that do not fit).</summary>
    public static OsImage Load(long bytes)
    {
        string directory = RuntimeEnvironment.GetRuntimeDirectory();
        var image = new MemoryStream();
        int files = 0;
        foreach (FileInfo file in new DirectoryInfo(directory).EnumerateFiles("*.dll").OrderBy(f => f.Name, StringComparer.Ordinal))
        {
            long padded = (file.Length + Paging.PageOffsetMask) & ~Paging.PageOffsetMask;
            if (image.Length + padded > bytes) continue;
            using (FileStream stream = file.OpenRead()) stream.CopyTo(image);
            image.SetLength(image.Length + (padded - file.Length)); // next file starts on a page boundary
            image.Position = image.Length;
            files++;
        }
        if (files == 0) throw new InvalidDataException($"no runtime file of {directory} fits in {bytes >> 20} MiB");
        return new OsImage(image.ToArray(), files);
    }
}
