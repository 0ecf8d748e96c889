using System.Runtime.InteropServices;
using ZstdSharp.Unsafe;

namespace GuestMemory.Qemu;

/// <summary>
/// The raw-content zstd dictionary of page files based on another (<see cref="PageSegment"/>): four zero bytes,
/// so zstd takes it as raw content even when a guest's page begins with zstd's dictionary magic, then the
/// base's first <see cref="Pages"/> pages. In native memory: its pages are written (<see cref="Page"/>, or
/// decompressed in place at <see cref="At"/>), then it is <see cref="Seal"/>ed, after which any number of
/// <see cref="FrameDecompressor"/>s on any threads refer to it where it lies (zstd's DDict by reference:
/// read-only, so shared without a lock) instead of copying 64 MiB each; a compressor loads <see cref="Bytes"/>.
/// </summary>
/// <remarks>Written by one thread before <see cref="Seal"/>, read by many after; disposed after its decompressors.</remarks>
internal sealed unsafe class FrameDictionary : IDisposable
{
    private const int HeadBytes = 4;
    private byte* _memory;
    private readonly int _length;

    /// <summary>Native memory for a dictionary of <paramref name="pages"/> pages, its head written, its pages to fill, then sealed.</summary>
    public FrameDictionary(int pages)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(pages);
        Pages = pages;
        _length = checked(HeadBytes + pages * QemuStreamFormat.PageSize);
        _memory = (byte*)NativeMemory.Alloc((nuint)_length);
        new Span<byte>(_memory, HeadBytes).Clear();
    }

    /// <summary>The base's pages it holds.</summary>
    public int Pages { get; }

    /// <summary>Whether its decompressors use the system's libzstd (a DDict of one library does not serve the other's contexts).</summary>
    public bool Native { get; } = FrameDecompressor.UseSystemLibrary;

    /// <summary>The whole dictionary, head and pages.</summary>
    public Span<byte> Bytes
    {
        get
        {
            ObjectDisposedException.ThrowIf(_memory == null, this);
            return new Span<byte>(_memory, _length);
        }
    }

    /// <summary>Where page <paramref name="page"/> of the base lies (frames of the base are decompressed straight there).</summary>
    internal byte* At(int page)
    {
        ObjectDisposedException.ThrowIf(_memory == null, this);
        return _memory + HeadBytes + (long)page * QemuStreamFormat.PageSize;
    }

    /// <summary>Page <paramref name="page"/> of the base, to write before <see cref="Seal"/>.</summary>
    public Span<byte> Page(int page) => Bytes.Slice(HeadBytes + page * QemuStreamFormat.PageSize, QemuStreamFormat.PageSize);

    /// <summary>zstd's dictionary over <see cref="Bytes"/> (after <see cref="Seal"/>).</summary>
    internal void* DDict { get; private set; }

    /// <summary>Makes zstd's dictionary over the bytes as they are now; they must not change after.</summary>
    public void Seal()
    {
        ObjectDisposedException.ThrowIf(_memory == null, this);
        if (DDict != null) return;
        DDict = Native ? FrameDecompressor.NativeCreateDDictByReference(_memory, (nuint)_length) : Methods.ZSTD_createDDict_byReference(_memory, (nuint)_length);
        if (DDict == null) throw new OutOfMemoryException("zstd could not make its dictionary");
    }

    public void Dispose()
    {
        if (DDict != null) _ = Native ? FrameDecompressor.NativeFreeDDict(DDict) : Methods.ZSTD_freeDDict((ZSTD_DDict_s*)DDict);
        DDict = null;
        if (_memory != null) NativeMemory.Free(_memory);
        _memory = null;
    }
}
