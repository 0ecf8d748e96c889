using GuestMemory.Balloon;

namespace GuestMemory.Tests.Balloon.Support;

/// <summary>
/// A made-up RSS reading for deterministic controller steps: the test says how many pages of headroom the
/// host has, and this reports the RSS that leaves exactly that much below the budget and the reserve.
/// </summary>
internal sealed class FakeRss(long budgetBytes, long reserveBytes, int vmsWithDrivers)
{
    private long _headroomPages;

    public long HeadroomPages
    {
        get => Volatile.Read(ref _headroomPages);
        set => Volatile.Write(ref _headroomPages, value);
    }

    public long Read() => budgetBytes - (reserveBytes + vmsWithDrivers * (long)Paging.ChunkSize) - HeadroomPages * Paging.PageSize;

    public BalloonControllerOptions Options(TimeSpan? period = null) => new()
    {
        HostBudgetBytes = budgetBytes,
        ReserveBytes = reserveBytes,
        HysteresisBytes = 1L << 20,
        Period = period ?? TimeSpan.FromMilliseconds(50),
        ReadRssBytes = Read,
    };
}
