using System.Runtime.InteropServices;
using ZstdSharp.Unsafe;

namespace GuestMemory.Qemu;

/// <summary>
/// zstd's decompressor for page file frames, with or without a base's dictionary (a <see cref="FrameDictionary"/>,
/// referred to where it lies). Written by hand for two reasons: ZstdSharp's <c>Decompressor</c> copies a
/// dictionary (64 MiB per resume), and the system's libzstd decompresses several times as fast as
/// ZstdSharp's managed port (8 MiB level-9 frames of a guest's QEMU stream: 2.1-2.3 GB/s with <c>zstd -b9 -B8M</c>
/// against 0.35-0.6 GB/s on the same data), which a resume to a QEMU on the same cores needs; where libzstd is missing,
/// ZstdSharp's port of the same calls is used.
/// </summary>
/// <remarks>One thread at a time (its context holds a frame's state); the dictionary may be shared.</remarks>
internal sealed unsafe partial class FrameDecompressor : IDisposable
{
    private const string Library = "libzstd.so.1";
    private static readonly bool Available = NativeLibrary.TryLoad(Library, typeof(FrameDecompressor).Assembly, null, out _);
    private readonly bool _native;
    private void* _dctx;

    /// <summary>A decompressor for frames compressed with <paramref name="dictionary"/> (sealed), or without one.</summary>
    public FrameDecompressor(FrameDictionary? dictionary = null)
    {
        _native = dictionary?.Native ?? UseSystemLibrary; // per instance: a test may switch the choice for the decompressors made after
        _dctx = _native ? NativeCreateDCtx() : Methods.ZSTD_createDCtx();
        if (_dctx == null) throw new OutOfMemoryException("zstd could not make its decompression context");
        if (dictionary == null) return;
        try
        {
            if (dictionary.DDict == null) throw new InvalidOperationException("a dictionary is sealed before it is used");
            Check(_native ? NativeRefDDict(_dctx, dictionary.DDict) : Methods.ZSTD_DCtx_refDDict((ZSTD_DCtx_s*)_dctx, (ZSTD_DDict_s*)dictionary.DDict));
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Whether decompressors made from now on use the system's libzstd (true where it is found) or ZstdSharp's port.</summary>
    public static bool UseSystemLibrary { get; set; } = Available;

    /// <summary>Decompresses one frame into <paramref name="destination"/>; returns its size.</summary>
    /// <exception cref="InvalidDataException">The frame is damaged (or its checksum does not match).</exception>
    public int Unwrap(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        ObjectDisposedException.ThrowIf(_dctx == null, this);
        fixed (byte* s = source)
        fixed (byte* d = destination)
            return (int)Check(_native
                ? NativeDecompressDCtx(_dctx, d, (nuint)destination.Length, s, (nuint)source.Length)
                : Methods.ZSTD_decompressDCtx((ZSTD_DCtx_s*)_dctx, d, (nuint)destination.Length, s, (nuint)source.Length));
    }

    private nuint Check(nuint result)
    {
        if (_native ? NativeIsError(result) == 0 : !Methods.ZSTD_isError(result)) return result;
        string name = _native ? Marshal.PtrToStringAnsi((IntPtr)NativeErrorName(result)) ?? "unknown error" : Methods.ZSTD_getErrorName(result);
        throw new InvalidDataException(name);
    }

    public void Dispose()
    {
        if (_dctx != null) _ = _native ? NativeFreeDCtx(_dctx) : Methods.ZSTD_freeDCtx((ZSTD_DCtx_s*)_dctx);
        _dctx = null;
    }

    [LibraryImport(Library, EntryPoint = "ZSTD_createDCtx")] private static partial void* NativeCreateDCtx();
    [LibraryImport(Library, EntryPoint = "ZSTD_freeDCtx")] private static partial nuint NativeFreeDCtx(void* dctx);
    [LibraryImport(Library, EntryPoint = "ZSTD_createDDict_byReference")] internal static partial void* NativeCreateDDictByReference(void* dictionary, nuint size);
    [LibraryImport(Library, EntryPoint = "ZSTD_freeDDict")] internal static partial nuint NativeFreeDDict(void* ddict);
    [LibraryImport(Library, EntryPoint = "ZSTD_DCtx_refDDict")] private static partial nuint NativeRefDDict(void* dctx, void* ddict);
    [LibraryImport(Library, EntryPoint = "ZSTD_decompressDCtx")] private static partial nuint NativeDecompressDCtx(void* dctx, void* destination, nuint capacity, void* source, nuint size);
    [LibraryImport(Library, EntryPoint = "ZSTD_isError")] private static partial uint NativeIsError(nuint code);
    [LibraryImport(Library, EntryPoint = "ZSTD_getErrorName")] private static partial byte* NativeErrorName(nuint code);
}
