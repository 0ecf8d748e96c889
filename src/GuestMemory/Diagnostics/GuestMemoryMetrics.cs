using System.Diagnostics.Metrics;
using System.Reflection;
using GuestMemory.Gmm;

namespace GuestMemory.Diagnostics;

/// <summary>
/// The manager's figures as <see cref="System.Diagnostics.Metrics"/> instruments on the meter
/// <c>GuestMemory</c>, so <c>dotnet-counters</c> or an OpenTelemetry pipeline can watch a running process.
/// Every instrument is observable: it reads the statistics when a listener asks, so the hot paths pay
/// nothing. Names, units and attributes follow OpenTelemetry's conventions; they are listed in
/// docs/metrics.md.
/// </summary>
/// <remarks>
/// <para><b>Several managers in one process.</b> Each manager has a meter of its own, all named
/// <c>GuestMemory</c>, and every measurement carries the attribute <c>gmm.manager.name</c>
/// (<see cref="GmmOptions.Name"/>), so a listener tells their figures apart instead of seeing one
/// instrument jump between them.</para>
/// <para><b>Who owns the meter.</b> With <see cref="GmmOptions.MeterFactory"/> the factory creates the
/// meter (tagged with the manager's name) and keeps it as long as the factory lives, as hosts with
/// dependency injection expect; without one the manager creates its own and disposes it with itself.
/// After <see cref="Dispose"/> the instruments report nothing either way.</para>
/// </remarks>
public sealed partial class GuestMemoryMetrics : IDisposable
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "GuestMemory";

    /// <summary>The attribute that names the manager on every measurement.</summary>
    internal const string ManagerAttribute = "gmm.manager.name";

    /// <summary>The package's version (without the source revision): the meter's version.</summary>
    internal static readonly string? PackageVersion =
        typeof(GuestMemoryMetrics).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0];

    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly KeyValuePair<string, object?> _manager;
    private volatile bool _disposed;

    internal GuestMemoryMetrics(GlobalMemoryManager manager, IMeterFactory? factory)
    {
        _manager = new(ManagerAttribute, manager.Name);
        var options = new MeterOptions(MeterName) { Version = PackageVersion, Tags = [_manager] };
        _meter = factory?.Create(options) ?? new Meter(options);
        _ownsMeter = factory == null;
        CreateInstruments(manager);
    }

    /// <summary>This manager's meter.</summary>
    internal Meter Meter => _meter;

    /// <summary>One measurement of <paramref name="read"/>, labelled with the manager; none once disposed.</summary>
    private IEnumerable<Measurement<long>> Observe(Func<long> read) =>
        _disposed ? [] : [new Measurement<long>(read(), _manager)];

    /// <summary>One measurement per state, labelled with the manager and <paramref name="attribute"/>; none once disposed.</summary>
    private IEnumerable<Measurement<long>> ObserveStates(string attribute, Func<IEnumerable<(string State, long Value)>> read) =>
        _disposed ? [] : read().Select(s => new Measurement<long>(s.Value, _manager, new(attribute, s.State))).ToArray();

    /// <summary>Stops reporting; disposes the meter when the manager created it.</summary>
    public void Dispose()
    {
        _disposed = true;
        if (_ownsMeter) _meter.Dispose();
    }
}
