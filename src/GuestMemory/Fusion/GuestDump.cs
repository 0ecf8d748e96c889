using System.Buffers.Binary;
using System.IO.Compression;

namespace GuestMemory.Fusion;

/// <summary>
/// A raw guest-physical memory image (byte N is guest-physical address N, as QEMU's <c>pmemsave</c>
/// writes it), plain or gzip-compressed, read as a stream of 4 KiB pages. Compression is recognised by
/// the gzip magic bytes, not by the file name. A last partial page reads as if padded with zeros, the
/// way guest RAM is page-granular (<see cref="Bytes"/> tells whether it was). A gzip stream that ends
/// before its trailer (a cut file) is an error, not a short image.
/// </summary>
public sealed class GuestDump : IDisposable
{
    private const byte GzipMagic0 = 0x1F, GzipMagic1 = 0x8B;
    private readonly Stream _stream;

    private readonly long _trailerSize;

    private GuestDump(string path, Stream stream, long pageHint, bool compressed, long trailerSize)
    {
        Path = path;
        _stream = stream;
        PageHint = pageHint;
        IsCompressed = compressed;
        _trailerSize = trailerSize;
    }

    /// <summary>The file's path.</summary>
    public string Path { get; }

    /// <summary>True when the file is gzip-compressed.</summary>
    public bool IsCompressed { get; }

    /// <summary>
    /// Pages the image holds: exact for a raw file; for gzip, from the trailer's size field (exact below
    /// 4 GiB for a single-member file; <see cref="ReadPages"/> fails on an image larger than this).
    /// </summary>
    public long PageHint { get; }

    /// <summary>Opens a dump for reading.</summary>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static GuestDump Open(string path)
    {
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        try
        {
            Span<byte> head = stackalloc byte[2];
            bool compressed = file.Length >= 18 && file.Read(head) == 2 && head[0] == GzipMagic0 && head[1] == GzipMagic1;
            long bytes = compressed ? GzipTrailerSize(file) : file.Length;
            file.Position = 0;
            Stream stream = compressed ? new GZipStream(file, CompressionMode.Decompress) : file;
            return new GuestDump(path, stream, (bytes + Paging.PageSize - 1) >> Paging.PageShift, compressed, bytes);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Reads up to <paramref name="buffer"/>.Length / 4 KiB whole pages into the buffer and returns how
    /// many; 0 at the end. Only the very last page of the image may be partial (its tail reads as zero).
    /// </summary>
    /// <exception cref="InvalidDataException">The gzip data is corrupt, ends before its trailer (a cut file), or is longer than its trailer says.</exception>
    public int ReadPages(Span<byte> buffer)
    {
        if (buffer.Length < Paging.PageSize || (buffer.Length & Paging.PageOffsetMask) != 0)
            throw new ArgumentException("the buffer must hold a whole number of pages, at least one", nameof(buffer));
        int read = _stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        Bytes += read;
        if (read < buffer.Length && IsCompressed) CheckComplete();
        int pages = (read + Paging.PageSize - 1) >> Paging.PageShift;
        buffer[read..(pages << Paging.PageShift)].Clear();
        PagesRead += pages;
        if (PagesRead > PageHint)
            throw new InvalidDataException($"{Path} holds more than the {PageHint} pages its gzip trailer announces (over 4 GiB or several members?); gunzip it and use the raw file");
        return pages;
    }

    /// <summary>
    /// Writes the rest of the image into <paramref name="memory"/> from guest-physical address 0, through
    /// the guest's own write API (1 MiB per call), and returns the pages written. Every page is written,
    /// all-zero ones too, as a booted guest's RAM would be touched.
    /// </summary>
    /// <param name="memory">Guest memory with RAM from address 0 covering <see cref="PageHint"/> pages.</param>
    /// <param name="progress">Told the pages written so far, after every call.</param>
    public long WriteTo(GuestMemory.Phys.GuestPhysicalMemory memory, IProgress<long>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(memory);
        byte[] buffer = new byte[256 * Paging.PageSize];
        long written = 0;
        for (int n; (n = ReadPages(buffer)) > 0;)
        {
            memory.Write((ulong)written << Paging.PageShift, buffer.AsSpan(0, n << Paging.PageShift));
            written += n;
            progress?.Report(written);
        }
        return written;
    }

    /// <summary>Pages read so far.</summary>
    public long PagesRead { get; private set; }

    /// <summary>
    /// Bytes of the image read so far (uncompressed); once all is read, the image's exact size. When it
    /// is not a multiple of 4 KiB, the last page was padded with zeros: a guest's RAM is whole pages, so
    /// such a dump was probably cut.
    /// </summary>
    public long Bytes { get; private set; }

    /// <summary>Closes the file.</summary>
    public void Dispose() => _stream.Dispose();

    /// <summary>
    /// At the end of a gzip image: .NET's decompressor ends quietly where the compressed data ends, even
    /// before the member's trailer (which it checks when it is there), so a cut file would read as a short
    /// image. The size that was decompressed must equal the size the last four bytes of the file state;
    /// in a cut file those bytes are compressed data, which matches by chance once in 2^32.
    /// </summary>
    private void CheckComplete()
    {
        if ((Bytes & 0xFFFF_FFFF) != _trailerSize)
            throw new InvalidDataException($"{Path}: the gzip stream ends early (a cut or incomplete file) or holds several members: {Bytes:N0} bytes decompressed, while its last four bytes, read as the gzip trailer, say {_trailerSize:N0}");
    }

    /// <summary>The uncompressed size modulo 2^32 that a gzip member stores in its last four bytes.</summary>
    private static long GzipTrailerSize(FileStream file)
    {
        Span<byte> trailer = stackalloc byte[4];
        file.Position = file.Length - 4;
        file.ReadExactly(trailer);
        return BinaryPrimitives.ReadUInt32LittleEndian(trailer);
    }
}
