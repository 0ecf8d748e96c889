using System.Diagnostics.Metrics;

namespace GuestMemory.Qemu;

/// <summary>
/// The QEMU balloon controller's instruments, on a meter of its own named <c>GuestMemory.Qemu</c>
/// (docs/metrics.md): how long balloons take to settle and how often a guest's driver fails, each with
/// the guest's name (<c>gmm.vm.name</c>). Thread-safe (System.Diagnostics.Metrics instruments are).
/// </summary>
internal static class QemuBalloonMetrics
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "GuestMemory.Qemu";

    private static readonly Meter Meter = new(MeterName, typeof(QemuBalloonMetrics).Assembly.GetName().Version?.ToString());

    private static readonly Histogram<double> SettleDuration = Meter.CreateHistogram<double>("gmm.qemu.balloon.settle.duration", "s",
        "From a balloon target being set to the guest's balloon holding it");

    private static readonly Counter<long> DriverFailures = Meter.CreateCounter<long>("gmm.qemu.balloon.driver.failures", "{failure}",
        "Guests whose balloon driver failed or never reported (left alone by the controller)");

    public static void Settled(string guest, TimeSpan waited) =>
        SettleDuration.Record(waited.TotalSeconds, new KeyValuePair<string, object?>("gmm.vm.name", guest));

    public static void DriverFailed(string guest) =>
        DriverFailures.Add(1, new KeyValuePair<string, object?>("gmm.vm.name", guest));
}
