namespace GuestMemory.Qemu;

/// <summary>
/// Why a channel to QEMU (QMP, the guest shell) failed: the first failure is kept and every later call gets
/// it again, except that a bare "connection lost" (<paramref name="bare"/>) is replaced by what the owner knows
/// by then (<see cref="CloseReason"/>: the guest died), because QEMU's exit is often seen only after its
/// sockets closed or were reset. The failure is guarded by its own lock.
/// </summary>
internal sealed class ChannelFailure(QemuError bare)
{
    private readonly Lock _lock = new();
    private QemuException? _failure;

    /// <summary>Asked why the channel ended; null when the owner does not know (yet).</summary>
    public Func<QemuException?>? CloseReason { get; set; }

    public bool HasFailed { get { lock (_lock) return _failure != null; } }

    /// <summary>Keeps <paramref name="reason"/> unless a failure is kept already; true when it was kept.</summary>
    public bool TrySet(QemuException reason)
    {
        lock (_lock)
        {
            if (_failure != null) return false;
            _failure = reason;
            return true;
        }
    }

    /// <summary>
    /// The failure of a channel whose reader ended: <paramref name="failure"/> (null when the peer just closed;
    /// <paramref name="closed"/> says so then), or the owner's reason where the channel only broke or closed.
    /// </summary>
    public QemuException Explain(QemuException? failure, string closed)
    {
        if (failure == null || failure.Error == bare) failure = Ask() ?? failure;
        return failure ?? new QemuException(bare, closed);
    }

    /// <summary>Throws the kept failure (asking the owner again when it is a bare one); nothing when there is none.</summary>
    public void ThrowIfFailed()
    {
        QemuException? failure;
        lock (_lock) failure = _failure;
        if (failure == null) return;
        if (failure.Error == bare && Ask() is { } reason) lock (_lock) failure = _failure = reason;
        throw failure.Recreate();
    }

    private QemuException? Ask()
    {
        try { return CloseReason?.Invoke(); }
        catch (Exception e) when (e is not OutOfMemoryException) { return null; }
    }
}
