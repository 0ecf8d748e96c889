using System.Buffers.Binary;
using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;
using ZstdSharp;
using ZstdSharp.Unsafe;

namespace GuestMemory.Qemu;

/// <summary>
/// One file of page contents in a store folder (<c>seg-NNNNNN.gqp</c>), written once when a VM brings
/// contents the store did not have, never changed afterwards, deleted when no stored VM refers to it and
/// no other page file uses it as its base.
/// </summary>
/// <remarks>
/// <para>Layout: frames of up to <see cref="FramePages"/> pages, each one zstd frame (<see cref="Level"/>, with
/// its checksum) of the pages' bytes one after another; then the trailer: pages per frame, the base page
/// file (-1 for none) and how many of its pages the dictionary holds (i32 each), per frame its offset (u64),
/// compressed length (u32) and page count (u32), per page its <see cref="PageKey"/> (32 bytes); the SHA-256
/// of the trailer so far; frame count, page count and the magic <c>GQP2</c> (u32 each, little-endian). A
/// reader finds the trailer from the file's end and checks its hash before it trusts a key; a frame is
/// checked by zstd's checksum when it is read. Immutable once written, so any number of readers (other
/// processes too) read it without locks.</para>
/// <para><b>Why a base.</b> Guests of the same kernel and image hold much the same bytes at other offsets
/// than a page apart (an initramfs archive beside the files unpacked from it, a file copied into page cache
/// pages of another guest), which page-level sharing cannot find. A page file is compressed with the
/// first <see cref="DictionaryPages"/> pages of a <i>base</i> page file, the one holding most of the pages
/// the new VM shares with the store, as zstd's raw-content dictionary (long-distance matching; measured on
/// four Debian guests: a second guest's new pages 8.5 MB → 2.7 MB). A base has no base of its own, so
/// reading a page needs at most one other file.</para>
/// </remarks>
internal sealed class PageSegment
{
    /// <summary>Pages per zstd frame (8 MiB): a dictionary is loaded once per frame, so frames are large; a resume reads frames in order and decompresses each once.</summary>
    public const int FramePages = 2048;
    /// <summary>zstd's level: a store is written once and kept, so a level above zstd's default 3 pays for itself in file bytes.</summary>
    public const int Level = 9;
    /// <summary>Pages of its base a dictionary holds at most (64 MiB): dictionary and frame fit zstd's default window limit (<see cref="WindowLog"/>).</summary>
    public const int DictionaryPages = 16384;
    /// <summary>Frames compressed at once at most (each lane holds a compressor, 8 MiB of pages and its output).</summary>
    private const int MaxParallelFrames = 4;
    /// <summary>128 MiB, the largest window zstd's decoder accepts without being told.</summary>
    private const int WindowLog = 27;
    private const uint Magic = 0x32505147, FormerMagic = 0x53505147; // "GQP2", "GQPS" (256-page frames, no base)
    private const int HeadBytes = 12, FrameEntry = 16, TailBytes = 12;

    private PageSegment(int number, string path, int baseNumber, int dictionaryPages, long[] offsets, int[] lengths, PageKey[] keys, long fileBytes)
    {
        Number = number;
        Path = path;
        Base = baseNumber;
        BaseDictionaryPages = dictionaryPages;
        Offsets = offsets;
        Lengths = lengths;
        Keys = keys;
        FileBytes = fileBytes;
    }

    public int Number { get; }
    public string Path { get; }
    /// <summary>The page file whose first <see cref="BaseDictionaryPages"/> pages are this file's dictionary; -1 for none.</summary>
    public int Base { get; }
    public int BaseDictionaryPages { get; }
    public long[] Offsets { get; }
    public int[] Lengths { get; }
    /// <summary>The key of each page, in page order.</summary>
    public PageKey[] Keys { get; }
    public long FileBytes { get; }

    public static string FileName(int number) => $"seg-{number:D6}.gqp";

    /// <summary>Checks that <paramref name="baseSegment"/>, this file's base, can be one: no base of its own, at least the dictionary's pages.</summary>
    /// <exception cref="QemuException"><see cref="QemuError.StoreCorrupt"/> otherwise.</exception>
    public void CheckBase(PageSegment baseSegment)
    {
        if (baseSegment.Number != Base || baseSegment.Base >= 0 || BaseDictionaryPages > baseSegment.Keys.Length)
            throw Corrupt(Path, $"its base page file {Base} has a base of its own or fewer than {BaseDictionaryPages} pages");
    }

    /// <summary>
    /// Writes the pages <paramref name="page"/> copies out (4096 bytes each, in order) as segment <paramref name="number"/> in
    /// <paramref name="directory"/>: temporary file, fsync, rename. With a <paramref name="baseSegment"/>, compressed against
    /// <paramref name="dictionary"/>, its first pages.
    /// </summary>
    public static PageSegment Write(string directory, int number, IReadOnlyList<PageKey> keys, Action<int, Span<byte>> page,
                                    PageSegment? baseSegment = null, FrameDictionary? dictionary = null)
    {
        if ((baseSegment == null) != (dictionary == null)) throw new ArgumentException("a page file has a base and its dictionary, or neither");
        int dictionaryPages = dictionary?.Pages ?? 0;
        string path = System.IO.Path.Combine(directory, FileName(number));
        string temp = path + ".tmp";
        int frames = (keys.Count + FramePages - 1) / FramePages;
        var offsets = new long[frames];
        var lengths = new int[frames];
        // Frames are compressed side by side (loading the dictionary into a frame's tables costs as much as
        // compressing it); pages are copied out on this thread, in order, and frames written in order.
        int width = Math.Clamp(Math.Min(Environment.ProcessorCount, frames), 1, MaxParallelFrames);
        var lanes = new Lane[width];
        try
        {
            for (int i = 0; i < width; i++) lanes[i] = new Lane(dictionary);
            long at = 0;
            using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                for (int first = 0; first < frames; first += width)
                {
                    int batch = Math.Min(width, frames - first);
                    for (int l = 0; l < batch; l++)
                    {
                        int f = first + l, count = Math.Min(FramePages, keys.Count - f * FramePages);
                        for (int i = 0; i < count; i++) page(f * FramePages + i, lanes[l].Raw.AsSpan(i * QemuStreamFormat.PageSize, QemuStreamFormat.PageSize));
                        lanes[l].Count = count;
                    }
                    Parallel.For(0, batch, l => lanes[l].Compress());
                    for (int l = 0; l < batch; l++)
                    {
                        file.Write(lanes[l].Packed, 0, lanes[l].PackedLength);
                        offsets[first + l] = at;
                        lengths[first + l] = lanes[l].PackedLength;
                        at += lanes[l].PackedLength;
                    }
                }
                byte[] trailer = Trailer(baseSegment?.Number ?? -1, dictionaryPages, offsets, lengths, keys);
                file.Write(trailer);
                file.Flush(flushToDisk: true);
                at += trailer.Length;
            }
            File.Move(temp, path, overwrite: true);
            return new PageSegment(number, path, baseSegment?.Number ?? -1, dictionaryPages, offsets, lengths, [.. keys], at);
        }
        finally
        {
            foreach (Lane? lane in lanes) lane?.Dispose();
        }
    }

    /// <summary>One frame being compressed: its pages, its compressor (with the dictionary), its output.</summary>
    private sealed class Lane : IDisposable
    {
        private readonly Compressor _compressor = new(Level);

        public Lane(FrameDictionary? dictionary)
        {
            _compressor.SetParameter(ZSTD_cParameter.ZSTD_c_checksumFlag, 1);
            if (dictionary == null) return;
            // Long-distance matching finds the base's bytes at any offset; it sees the dictionary only when
            // zstd loads it into each frame's tables (ZSTD_dictForceLoad) rather than attaching it.
            _compressor.SetParameter(ZSTD_cParameter.ZSTD_c_windowLog, WindowLog);
            _compressor.SetParameter(ZSTD_cParameter.ZSTD_c_enableLongDistanceMatching, 1);
            _compressor.SetParameter(ZSTD_cParameter.ZSTD_c_experimentalParam4, (int)ZSTD_dictAttachPref_e.ZSTD_dictForceLoad);
            _compressor.LoadDictionary(dictionary.Bytes);
        }

        public byte[] Raw { get; } = new byte[FramePages * QemuStreamFormat.PageSize];
        public byte[] Packed { get; } = new byte[Compressor.GetCompressBound(FramePages * QemuStreamFormat.PageSize)];
        public int Count { get; set; }
        public int PackedLength { get; private set; }

        public void Compress() => PackedLength = _compressor.Wrap(Raw.AsSpan(0, Count * QemuStreamFormat.PageSize), Packed);

        public void Dispose() => _compressor.Dispose();
    }

    private static byte[] Trailer(int baseNumber, int dictionaryPages, long[] offsets, int[] lengths, IReadOnlyList<PageKey> keys)
    {
        int body = HeadBytes + offsets.Length * FrameEntry + keys.Count * PageKey.Bytes;
        byte[] trailer = new byte[body + 32 + TailBytes];
        Span<byte> s = trailer;
        BinaryPrimitives.WriteInt32LittleEndian(s, FramePages);
        BinaryPrimitives.WriteInt32LittleEndian(s[4..], baseNumber);
        BinaryPrimitives.WriteInt32LittleEndian(s[8..], dictionaryPages);
        for (int f = 0; f < offsets.Length; f++)
        {
            Span<byte> entry = s[(HeadBytes + f * FrameEntry)..];
            BinaryPrimitives.WriteInt64LittleEndian(entry, offsets[f]);
            BinaryPrimitives.WriteInt32LittleEndian(entry[8..], lengths[f]);
            BinaryPrimitives.WriteInt32LittleEndian(entry[12..], Math.Min(FramePages, keys.Count - f * FramePages));
        }
        int k = HeadBytes + offsets.Length * FrameEntry;
        for (int i = 0; i < keys.Count; i++) keys[i].WriteTo(s[(k + i * PageKey.Bytes)..]);
        SHA256.HashData(s[..body], s[body..]);
        BinaryPrimitives.WriteInt32LittleEndian(s[(body + 32)..], offsets.Length);
        BinaryPrimitives.WriteInt32LittleEndian(s[(body + 36)..], keys.Count);
        BinaryPrimitives.WriteUInt32LittleEndian(s[(body + 40)..], Magic);
        return trailer;
    }

    /// <summary>Opens segment <paramref name="number"/>: reads and checks its trailer (its base is checked by the store, which opens it too).</summary>
    /// <exception cref="QemuException"><see cref="QemuError.StoreCorrupt"/> for a missing, cut or damaged file, or one of the earlier format.</exception>
    public static PageSegment Open(string directory, int number)
    {
        string path = System.IO.Path.Combine(directory, FileName(number));
        try
        {
            using SafeFileHandle handle = File.OpenHandle(path);
            long length = RandomAccess.GetLength(handle);
            if (length < TailBytes + 32 + HeadBytes) throw Corrupt(path, "shorter than its trailer");
            byte[] tail = new byte[TailBytes];
            RandomAccess.Read(handle, tail, length - TailBytes);
            int frames = BinaryPrimitives.ReadInt32LittleEndian(tail);
            int pages = BinaryPrimitives.ReadInt32LittleEndian(tail.AsSpan(4));
            uint magic = BinaryPrimitives.ReadUInt32LittleEndian(tail.AsSpan(8));
            if (magic == FormerMagic) throw Corrupt(path, "written in the page file format of an earlier GuestMemory (GQPS); store the VMs again");
            if (magic != Magic) throw Corrupt(path, "no segment trailer at its end");
            long body = HeadBytes + (long)frames * FrameEntry + (long)pages * PageKey.Bytes;
            if (frames < 0 || pages < 0 || frames != (pages + FramePages - 1) / FramePages || body + 32 + TailBytes > length)
                throw Corrupt(path, $"a trailer of {frames} frames and {pages} pages");
            byte[] trailer = new byte[body + 32];
            if (RandomAccess.Read(handle, trailer, length - TailBytes - trailer.Length) != trailer.Length) throw Corrupt(path, "cut short");
            if (!SHA256.HashData(trailer.AsSpan(0, (int)body)).AsSpan().SequenceEqual(trailer.AsSpan((int)body))) throw Corrupt(path, "its trailer's hash does not match");
            int framePages = BinaryPrimitives.ReadInt32LittleEndian(trailer);
            int baseNumber = BinaryPrimitives.ReadInt32LittleEndian(trailer.AsSpan(4));
            int dictionaryPages = BinaryPrimitives.ReadInt32LittleEndian(trailer.AsSpan(8));
            if (framePages != FramePages) throw Corrupt(path, $"frames of {framePages} pages, not {FramePages}");
            if (baseNumber < -1 || baseNumber >= number || (baseNumber < 0 ? dictionaryPages != 0 : dictionaryPages is <= 0 or > DictionaryPages))
                throw Corrupt(path, $"base page file {baseNumber} with a dictionary of {dictionaryPages} pages");
            var offsets = new long[frames];
            var lengths = new int[frames];
            for (int f = 0; f < frames; f++)
            {
                offsets[f] = BinaryPrimitives.ReadInt64LittleEndian(trailer.AsSpan(HeadBytes + f * FrameEntry));
                lengths[f] = BinaryPrimitives.ReadInt32LittleEndian(trailer.AsSpan(HeadBytes + f * FrameEntry + 8));
                if (offsets[f] < 0 || lengths[f] <= 0 || offsets[f] + lengths[f] > length) throw Corrupt(path, $"frame {f} outside the file");
            }
            var keys = new PageKey[pages];
            int k = HeadBytes + frames * FrameEntry;
            for (int i = 0; i < pages; i++) keys[i] = PageKey.Read(trailer.AsSpan(k + i * PageKey.Bytes));
            return new PageSegment(number, path, baseNumber, dictionaryPages, offsets, lengths, keys, length);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new QemuException(QemuError.StoreCorrupt, $"page file {path} cannot be read: {e.Message}", e);
        }
    }

    public static QemuException Corrupt(string path, string what) => new(QemuError.StoreCorrupt, $"page file {path}: {what}");
}
