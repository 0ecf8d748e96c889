namespace GuestMemory.Fusion;

/// <summary>
/// The scanner's own memory of one RAM range: which pages it armed for write monitoring (so a later
/// Allocated state means "written since", and a Write-Monitored state means "unwritten for a pass"),
/// and which of those it already hashed into the table (so unchanged pages are not hashed again).
/// Two bits per page; touched only under <see cref="PageFusion"/>'s pass lock.
/// </summary>
internal sealed class RangeFusionState(long pages)
{
    private readonly ulong[] _armed = new ulong[(pages + 63) / 64];
    private readonly ulong[] _hashed = new ulong[(pages + 63) / 64];

    public bool IsArmed(int index) => (_armed[index >> 6] & (1UL << index)) != 0;
    public bool IsHashed(int index) => (_hashed[index >> 6] & (1UL << index)) != 0;
    public void SetArmed(int index) => _armed[index >> 6] |= 1UL << index;
    public void SetHashed(int index) => _hashed[index >> 6] |= 1UL << index;

    public void Forget(int index)
    {
        _armed[index >> 6] &= ~(1UL << index);
        _hashed[index >> 6] &= ~(1UL << index);
    }
}
