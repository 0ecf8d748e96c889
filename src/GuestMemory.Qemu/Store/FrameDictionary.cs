using System.Runtime.InteropServices;
using ZstdSharp.Unsafe;

namespace GuestMemory.Qemu;

/// <summary>
/// A raw-content zstd dictionary (a base's first pages, <see cref="PageSegment.DictionaryBytes"/>) in native
/// memory: written through <see cref="Bytes"/>, then <see cref="Seal"/>ed, after which any number of
/// <see cref="FrameDecompressor"/>s on any threads refer to it where it lies (zstd's DDict by reference:
/// read-only, so shared without a lock) instead of copying 64 MiB each.
/// </summary>
/// <remarks>Written by one thread before <see cref="Seal"/>, read by many after; disposed after its decompressors.</remarks>
internal sealed unsafe class FrameDictionary : IDisposable
{
    private byte* _memory;
    private readonly int _length;

    /// <summary>Native memory for <paramref name="bytes"/> bytes, to be filled, then sealed.</summary>
    public FrameDictionary(long bytes)
    {
        _length = checked((int)bytes);
        _memory = (byte*)NativeMemory.Alloc((nuint)_length);
    }

    /// <summary>Whether its decompressors use the system's libzstd (a DDict of one library does not serve the other's contexts).</summary>
    public bool Native { get; } = FrameDecompressor.UseSystemLibrary;

    /// <summary>The dictionary's bytes, to fill before <see cref="Seal"/>.</summary>
    public Span<byte> Bytes
    {
        get
        {
            ObjectDisposedException.ThrowIf(_memory == null, this);
            return new Span<byte>(_memory, _length);
        }
    }

    /// <summary>Where <see cref="Bytes"/> lie (frames of the base are decompressed straight into them).</summary>
    internal byte* Pointer => _memory;

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
