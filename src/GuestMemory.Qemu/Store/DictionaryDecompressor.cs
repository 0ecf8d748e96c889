using System.Runtime.InteropServices;
using ZstdSharp.Unsafe;

namespace GuestMemory.Qemu;

/// <summary>
/// zstd's decompressor for frames compressed against a page file's base: the dictionary (up to 64 MiB) is
/// filled once in native memory and referred to where it lies. Written here because ZstdSharp's
/// <c>Decompressor.LoadDictionary</c> copies the dictionary, which cost a resume a fifth of its CPU time.
/// </summary>
/// <remarks>Not shared between threads (one <see cref="SegmentReader"/> uses it at a time).</remarks>
internal sealed unsafe class DictionaryDecompressor : IDisposable
{
    private byte* _dictionary;
    private ZSTD_DDict_s* _ddict;
    private ZSTD_DCtx_s* _dctx;

    /// <summary>A decompressor whose dictionary <paramref name="fill"/> writes (<paramref name="bytes"/> bytes, see <see cref="PageSegment.Dictionary"/>).</summary>
    public DictionaryDecompressor(long bytes, SpanAction fill)
    {
        _dictionary = (byte*)NativeMemory.Alloc((nuint)bytes);
        try
        {
            fill(new Span<byte>(_dictionary, checked((int)bytes)));
            _ddict = Methods.ZSTD_createDDict_byReference(_dictionary, (nuint)bytes);
            _dctx = Methods.ZSTD_createDCtx();
            if (_ddict == null || _dctx == null) throw new OutOfMemoryException("zstd could not make its decompression context");
            Check(Methods.ZSTD_DCtx_refDDict(_dctx, _ddict));
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Writes a span; the dictionary's bytes.</summary>
    public delegate void SpanAction(Span<byte> dictionary);

    /// <summary>Decompresses one frame into <paramref name="destination"/>; returns its size.</summary>
    /// <exception cref="InvalidDataException">The frame is damaged (or its checksum does not match).</exception>
    public int Unwrap(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        ObjectDisposedException.ThrowIf(_dctx == null, this);
        fixed (byte* s = source)
        fixed (byte* d = destination)
            return (int)Check(Methods.ZSTD_decompressDCtx(_dctx, d, (nuint)destination.Length, s, (nuint)source.Length));
    }

    private static nuint Check(nuint result) =>
        Methods.ZSTD_isError(result) ? throw new InvalidDataException(Methods.ZSTD_getErrorName(result)) : result;

    public void Dispose()
    {
        if (_dctx != null) Methods.ZSTD_freeDCtx(_dctx);
        if (_ddict != null) Methods.ZSTD_freeDDict(_ddict);
        if (_dictionary != null) NativeMemory.Free(_dictionary);
        _dctx = null;
        _ddict = null;
        _dictionary = null;
    }
}
