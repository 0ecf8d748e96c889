using System.Buffers.Binary;
using System.Security.Cryptography;

namespace GuestMemory.Qemu;

/// <summary>
/// A page's content key in the store's files: its SHA-256. The store's files hold each content once
/// and every stored VM refers to it by key, so two pages are taken as equal exactly when their keys
/// are; a cryptographic hash makes that safe against guests that craft pages to collide with another
/// VM's content (a weaker hash would let such a guest read that content back on resume).
/// </summary>
internal readonly record struct PageKey(ulong A, ulong B, ulong C, ulong D)
{
    public const int Bytes = 32;

    public static PageKey Of(ReadOnlySpan<byte> page)
    {
        Span<byte> hash = stackalloc byte[Bytes];
        SHA256.HashData(page, hash);
        return Read(hash);
    }

    public static PageKey Read(ReadOnlySpan<byte> source) => new(
        BinaryPrimitives.ReadUInt64LittleEndian(source),
        BinaryPrimitives.ReadUInt64LittleEndian(source[8..]),
        BinaryPrimitives.ReadUInt64LittleEndian(source[16..]),
        BinaryPrimitives.ReadUInt64LittleEndian(source[24..]));

    public void WriteTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(destination, A);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[8..], B);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[16..], C);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[24..], D);
    }
}
