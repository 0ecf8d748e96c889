using System.Buffers.Binary;
using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;
using ZstdSharp;
using ZstdSharp.Unsafe;

namespace GuestMemory.Qemu;

/// <summary>
/// One file of page contents in a store folder (<c>seg-NNNNNN.gqp</c>), written once when a VM brings
/// contents the store did not have, never changed afterwards, deleted when no stored VM refers to it.
/// </summary>
/// <remarks>
/// Layout: frames of up to <see cref="FramePages"/> pages, each one zstd frame (<see cref="Level"/>, with its
/// checksum) of the pages' bytes one after another; then the trailer: per frame its offset (u64),
/// compressed length (u32) and page count (u32); per page its <see cref="PageKey"/> (32 bytes); the
/// SHA-256 of the trailer so far; frame count, page count and the magic <c>GQPS</c> (u32 each,
/// little-endian). A reader finds the trailer from the file's end and checks its hash before it trusts a
/// key; a frame is checked by zstd's checksum when it is read. Immutable once written, so any number of
/// readers (other processes too) read it without locks.
/// </remarks>
internal sealed class PageSegment
{
    /// <summary>Pages per zstd frame: 1 MiB frames compress page content within about a percent of one whole-stream zstd, and a resume decompresses each once.</summary>
    public const int FramePages = 256;
    /// <summary>zstd's level: a store is written once and kept, so a level above zstd's default 3 pays for itself in file bytes.</summary>
    public const int Level = 9;
    private const uint Magic = 0x53505147; // "GQPS"
    private const int FrameEntry = 16, TailBytes = 12;

    private PageSegment(int number, string path, long[] offsets, int[] lengths, PageKey[] keys, long fileBytes)
    {
        Number = number;
        Path = path;
        Offsets = offsets;
        Lengths = lengths;
        Keys = keys;
        FileBytes = fileBytes;
    }

    public int Number { get; }
    public string Path { get; }
    public long[] Offsets { get; }
    public int[] Lengths { get; }
    /// <summary>The key of each page, in page order.</summary>
    public PageKey[] Keys { get; }
    public long FileBytes { get; }

    public static string FileName(int number) => $"seg-{number:D6}.gqp";

    /// <summary>Writes the pages <paramref name="page"/> copies out (4096 bytes each, in order) as segment <paramref name="number"/> in <paramref name="directory"/>: temporary file, fsync, rename.</summary>
    public static PageSegment Write(string directory, int number, IReadOnlyList<PageKey> keys, Action<int, Span<byte>> page)
    {
        string path = System.IO.Path.Combine(directory, FileName(number));
        string temp = path + ".tmp";
        int frames = (keys.Count + FramePages - 1) / FramePages;
        var offsets = new long[frames];
        var lengths = new int[frames];
        byte[] raw = new byte[FramePages * QemuStreamFormat.PageSize];
        byte[] packed = new byte[Compressor.GetCompressBound(raw.Length)];
        using var compressor = new Compressor(Level);
        compressor.SetParameter(ZSTD_cParameter.ZSTD_c_checksumFlag, 1);
        long at = 0;
        using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            for (int f = 0; f < frames; f++)
            {
                int count = Math.Min(FramePages, keys.Count - f * FramePages);
                for (int i = 0; i < count; i++) page(f * FramePages + i, raw.AsSpan(i * QemuStreamFormat.PageSize, QemuStreamFormat.PageSize));
                int n = compressor.Wrap(raw.AsSpan(0, count * QemuStreamFormat.PageSize), packed);
                file.Write(packed, 0, n);
                offsets[f] = at;
                lengths[f] = n;
                at += n;
            }
            byte[] trailer = Trailer(offsets, lengths, keys);
            file.Write(trailer);
            file.Flush(flushToDisk: true);
            at += trailer.Length;
        }
        File.Move(temp, path, overwrite: true);
        return new PageSegment(number, path, offsets, lengths, [.. keys], at);
    }

    private static byte[] Trailer(long[] offsets, int[] lengths, IReadOnlyList<PageKey> keys)
    {
        int body = offsets.Length * FrameEntry + keys.Count * PageKey.Bytes;
        byte[] trailer = new byte[body + 32 + TailBytes];
        Span<byte> s = trailer;
        for (int f = 0; f < offsets.Length; f++)
        {
            BinaryPrimitives.WriteInt64LittleEndian(s[(f * FrameEntry)..], offsets[f]);
            BinaryPrimitives.WriteInt32LittleEndian(s[(f * FrameEntry + 8)..], lengths[f]);
            BinaryPrimitives.WriteInt32LittleEndian(s[(f * FrameEntry + 12)..], Math.Min(FramePages, keys.Count - f * FramePages));
        }
        int k = offsets.Length * FrameEntry;
        for (int i = 0; i < keys.Count; i++) keys[i].WriteTo(s[(k + i * PageKey.Bytes)..]);
        SHA256.HashData(s[..body], s[body..]);
        BinaryPrimitives.WriteInt32LittleEndian(s[(body + 32)..], offsets.Length);
        BinaryPrimitives.WriteInt32LittleEndian(s[(body + 36)..], keys.Count);
        BinaryPrimitives.WriteUInt32LittleEndian(s[(body + 40)..], Magic);
        return trailer;
    }

    /// <summary>Opens segment <paramref name="number"/>: reads and checks its trailer.</summary>
    /// <exception cref="QemuException"><see cref="QemuError.StoreCorrupt"/> for a missing, cut or damaged file.</exception>
    public static PageSegment Open(string directory, int number)
    {
        string path = System.IO.Path.Combine(directory, FileName(number));
        try
        {
            using SafeFileHandle handle = File.OpenHandle(path);
            long length = RandomAccess.GetLength(handle);
            if (length < TailBytes + 32) throw Corrupt(path, "shorter than its trailer");
            byte[] tail = new byte[TailBytes];
            RandomAccess.Read(handle, tail, length - TailBytes);
            int frames = BinaryPrimitives.ReadInt32LittleEndian(tail);
            int pages = BinaryPrimitives.ReadInt32LittleEndian(tail.AsSpan(4));
            if (BinaryPrimitives.ReadUInt32LittleEndian(tail.AsSpan(8)) != Magic) throw Corrupt(path, "no segment trailer at its end");
            long body = (long)frames * FrameEntry + (long)pages * PageKey.Bytes;
            if (frames < 0 || pages < 0 || frames != (pages + FramePages - 1) / FramePages || body + 32 + TailBytes > length)
                throw Corrupt(path, $"a trailer of {frames} frames and {pages} pages");
            byte[] trailer = new byte[body + 32];
            if (RandomAccess.Read(handle, trailer, length - TailBytes - trailer.Length) != trailer.Length) throw Corrupt(path, "cut short");
            if (!SHA256.HashData(trailer.AsSpan(0, (int)body)).AsSpan().SequenceEqual(trailer.AsSpan((int)body))) throw Corrupt(path, "its trailer's hash does not match");
            var offsets = new long[frames];
            var lengths = new int[frames];
            for (int f = 0; f < frames; f++)
            {
                offsets[f] = BinaryPrimitives.ReadInt64LittleEndian(trailer.AsSpan(f * FrameEntry));
                lengths[f] = BinaryPrimitives.ReadInt32LittleEndian(trailer.AsSpan(f * FrameEntry + 8));
                if (offsets[f] < 0 || lengths[f] <= 0 || offsets[f] + lengths[f] > length) throw Corrupt(path, $"frame {f} outside the file");
            }
            var keys = new PageKey[pages];
            for (int i = 0; i < pages; i++) keys[i] = PageKey.Read(trailer.AsSpan(frames * FrameEntry + i * PageKey.Bytes));
            return new PageSegment(number, path, offsets, lengths, keys, length);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new QemuException(QemuError.StoreCorrupt, $"page file {path} cannot be read: {e.Message}", e);
        }
    }

    public static QemuException Corrupt(string path, string what) => new(QemuError.StoreCorrupt, $"page file {path}: {what}");
}

/// <summary>
/// Reads pages of segments for one operation (a resume, a load): keeps its own open files and the last
/// frames it decompressed, so reading a VM's pages in order decompresses each frame once. Not shared
/// between threads; dispose when done.
/// </summary>
internal sealed class SegmentReader : IDisposable
{
    private const int CachedFrames = 16;
    private readonly Dictionary<int, SafeFileHandle> _files = [];
    private readonly Dictionary<(int Segment, int Frame), byte[]> _frames = [];
    private readonly Queue<(int, int)> _order = new();
    private readonly Decompressor _decompressor = new();
    private byte[] _packed = new byte[1 << 20];

    /// <summary>Copies page <paramref name="index"/> of <paramref name="segment"/> into <paramref name="destination"/>.</summary>
    /// <exception cref="QemuException"><see cref="QemuError.StoreCorrupt"/> when the frame does not decompress or its checksum fails.</exception>
    public void Read(PageSegment segment, int index, Span<byte> destination)
    {
        int frame = index / PageSegment.FramePages, slot = index % PageSegment.FramePages;
        if (!_frames.TryGetValue((segment.Number, frame), out byte[]? pages))
        {
            pages = Decompress(segment, frame);
            if (_order.Count == CachedFrames) _frames.Remove(_order.Dequeue());
            _frames[(segment.Number, frame)] = pages;
            _order.Enqueue((segment.Number, frame));
        }
        pages.AsSpan(slot * QemuStreamFormat.PageSize, QemuStreamFormat.PageSize).CopyTo(destination);
    }

    private byte[] Decompress(PageSegment segment, int frame)
    {
        if (!_files.TryGetValue(segment.Number, out SafeFileHandle? handle))
        {
            try { handle = File.OpenHandle(segment.Path); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new QemuException(QemuError.StoreCorrupt, $"page file {segment.Path} cannot be opened: {e.Message}", e);
            }
            _files[segment.Number] = handle;
        }
        int length = segment.Lengths[frame];
        if (_packed.Length < length) _packed = new byte[length];
        if (RandomAccess.Read(handle, _packed.AsSpan(0, length), segment.Offsets[frame]) != length) throw PageSegment.Corrupt(segment.Path, $"frame {frame} cut short");
        int pages = Math.Min(PageSegment.FramePages, segment.Keys.Length - frame * PageSegment.FramePages);
        byte[] raw = new byte[pages * QemuStreamFormat.PageSize];
        try
        {
            if (_decompressor.Unwrap(_packed.AsSpan(0, length), raw) != raw.Length) throw PageSegment.Corrupt(segment.Path, $"frame {frame} has the wrong size");
        }
        catch (ZstdException e)
        {
            throw new QemuException(QemuError.StoreCorrupt, $"page file {segment.Path}: frame {frame} is damaged: {e.Message}", e);
        }
        return raw;
    }

    public void Dispose()
    {
        foreach (SafeFileHandle h in _files.Values) h.Dispose();
        _decompressor.Dispose();
    }
}
