namespace GuestMemory.Qemu.Tests.Support;

/// <summary>
/// Runs a test with the system's libzstd or ZstdSharp's port decompressing (<see cref="FrameDecompressor.UseSystemLibrary"/>,
/// a process-wide switch). The tests that switch it share one collection, so they never run beside each other
/// and each runs with the library it names; other tests only ever see a library that reads every page file.
/// </summary>
internal static class ZstdLibrary
{
    public const string Collection = "zstd library switch";

    /// <summary>Runs <paramref name="test"/> with libzstd (where it is found) or with ZstdSharp's port.</summary>
    public static void With(bool systemLibrary, Action test)
    {
        bool before = FrameDecompressor.UseSystemLibrary;
        FrameDecompressor.UseSystemLibrary = systemLibrary && before;
        try { test(); }
        finally { FrameDecompressor.UseSystemLibrary = before; }
    }
}

[CollectionDefinition(ZstdLibrary.Collection)]
public sealed class ZstdLibraryCollection;
