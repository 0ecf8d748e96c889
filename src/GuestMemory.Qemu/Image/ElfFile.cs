using System.Buffers.Binary;

namespace GuestMemory.Qemu;

/// <summary>
/// Just enough ELF to tell a statically linked executable from a dynamic one: a dynamic executable has a
/// PT_INTERP program header naming its loader, which an initramfs without a C library does not have.
/// </summary>
internal static class ElfFile
{
    private const uint PtInterp = 3;

    /// <summary>True for a 64-bit little-endian ELF executable without an interpreter.</summary>
    public static bool IsStaticExecutable(string path)
    {
        try
        {
            byte[] data = File.ReadAllBytes(path);
            return IsStaticExecutable(data);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>The same test on the file's bytes; false for anything that is not such an ELF file.</summary>
    public static bool IsStaticExecutable(ReadOnlySpan<byte> data)
    {
        if (data.Length < 64 || data[0] != 0x7F || data[1] != (byte)'E' || data[2] != (byte)'L' || data[3] != (byte)'F') return false;
        if (data[4] != 2 || data[5] != 1) return false; // ELFCLASS64, little-endian
        ulong phoff = BinaryPrimitives.ReadUInt64LittleEndian(data[32..]);
        int phentsize = BinaryPrimitives.ReadUInt16LittleEndian(data[54..]);
        int phnum = BinaryPrimitives.ReadUInt16LittleEndian(data[56..]);
        if (phentsize < 4 || phoff > (ulong)data.Length) return false;
        for (int i = 0; i < phnum; i++)
        {
            ulong at = phoff + (ulong)(i * phentsize);
            if (at + 4 > (ulong)data.Length) return false;
            if (BinaryPrimitives.ReadUInt32LittleEndian(data[(int)at..]) == PtInterp) return false;
        }
        return true;
    }
}
