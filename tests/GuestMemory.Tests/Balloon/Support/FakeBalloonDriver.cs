using GuestMemory.Balloon;

namespace GuestMemory.Tests.Balloon.Support;

/// <summary>
/// A driver that only reports what the test tells it to, for deterministic controller steps: it records
/// the targets it is sent and balloons nothing itself.
/// </summary>
internal sealed class FakeBalloonDriver : IBalloonDriver
{
    private readonly Lock _lock = new();
    private BalloonDriverStatus _status;

    public List<long> Targets { get; } = [];

    public void SetTarget(long pages)
    {
        lock (_lock) Targets.Add(pages);
    }

    public BalloonDriverStatus Status
    {
        get { lock (_lock) return _status; }
        set
        {
            lock (_lock) _status = value;
            StatusChanged?.Invoke();
        }
    }

    public event Action? StatusChanged;
}
