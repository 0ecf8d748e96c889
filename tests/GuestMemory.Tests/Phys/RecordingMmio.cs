using GuestMemory.Phys;

namespace GuestMemory.Tests.Phys;

/// <summary>An MMIO device backed by plain bytes that records every access it gets, data in hex (and whether the VM lock was held).</summary>
internal sealed class RecordingMmio(int size, GuestPhysicalMemory? owner = null) : IMmioHandler
{
    public byte[] Registers { get; } = new byte[size];

    public List<(string Kind, ulong Offset, string Data)> Accesses { get; } = [];

    /// <summary>Set when a handler ran while the owner's lock was held by the calling thread.</summary>
    public bool CalledUnderLock { get; private set; }

    public void Read(ulong offset, Span<byte> destination)
    {
        CalledUnderLock |= owner?.Lock.IsHeldByCurrentThread == true;
        Registers.AsSpan((int)offset, destination.Length).CopyTo(destination);
        Accesses.Add(("read", offset, Convert.ToHexString(destination)));
    }

    public void Write(ulong offset, ReadOnlySpan<byte> source)
    {
        CalledUnderLock |= owner?.Lock.IsHeldByCurrentThread == true;
        source.CopyTo(Registers.AsSpan((int)offset));
        Accesses.Add(("write", offset, Convert.ToHexString(source)));
    }
}
