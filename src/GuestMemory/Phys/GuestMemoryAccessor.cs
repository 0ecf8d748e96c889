using GuestMemory.Host;

namespace GuestMemory.Phys;

/// <summary>
/// A vCPU's accessor to guest memory: the same reads and writes as <see cref="GuestPhysicalMemory"/>,
/// with an epoch slot of its own so the lock-free fast path skips the per-access thread-static lookup.
/// A ref struct: it cannot leave the stack of the thread that opened it, which is what makes owning a
/// slot safe (one thread at a time). Like a vCPU's RCU read side in QEMU, each call is its own short
/// access section, so holding an accessor never delays page reuse.
/// </summary>
public ref struct GuestMemoryAccessor
{
    private readonly GuestPhysicalMemory _memory;
    private AccessEpoch.Slot? _slot;

    internal GuestMemoryAccessor(GuestPhysicalMemory memory, AccessEpoch.Slot slot)
    {
        _memory = memory;
        _slot = slot;
    }

    /// <summary>Reads 8 bytes (little-endian, any alignment).</summary>
    public readonly ulong ReadUInt64(ulong address) =>
        _memory.Fast().TryReadUInt64(address, Section, out ulong value) ? value : _memory.ReadUInt64Slow(address);

    /// <summary>Writes 8 bytes (little-endian, any alignment).</summary>
    public readonly unsafe void WriteUInt64(ulong address, ulong value)
    {
        if (!_memory.Fast().TryWriteUInt64(address, value, Section)) _memory.WriteSlow(address, new ReadOnlySpan<byte>(&value, sizeof(ulong)));
    }

    /// <summary>Reads guest memory; see <see cref="GuestPhysicalMemory.Read"/>.</summary>
    public readonly void Read(ulong address, Span<byte> destination)
    {
        if (!_memory.Fast().TryRead(address, destination, Section)) _memory.ReadSlow(address, destination);
    }

    /// <summary>Writes guest memory; see <see cref="GuestPhysicalMemory.Write"/>.</summary>
    public readonly void Write(ulong address, ReadOnlySpan<byte> source)
    {
        if (!_memory.Fast().TryWrite(address, source, Section)) _memory.WriteSlow(address, source);
    }

    private readonly OwnedSection Section => new(_slot ?? throw new ObjectDisposedException(nameof(GuestMemoryAccessor)));

    /// <summary>Gives the epoch slot back.</summary>
    public void Dispose()
    {
        if (_slot == null) return;
        AccessEpoch.ReturnSlot(_slot);
        _slot = null;
    }
}
