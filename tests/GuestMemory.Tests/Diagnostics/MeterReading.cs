using System.Diagnostics.Metrics;
using GuestMemory.Diagnostics;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace GuestMemory.Tests.Diagnostics;

/// <summary>
/// Reads a manager's instruments the way a listener does (<see cref="MetricCollector{T}"/>, which asks the
/// observable instruments for their values), keyed by instrument name and attribute values.
/// </summary>
internal static class MeterReading
{
    /// <summary>The instruments of <paramref name="meter"/>, as a listener sees them published.</summary>
    public static IReadOnlyList<Instrument> InstrumentsOf(Meter meter)
    {
        var found = new List<Instrument>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, _) =>
            {
                if (instrument.Meter == meter) found.Add(instrument);
            },
        };
        listener.Start();
        return found;
    }

    /// <summary>One observation of one instrument of <paramref name="meter"/>.</summary>
    public static IReadOnlyList<CollectedMeasurement<long>> Observe(Meter meter, string instrument)
    {
        using var collector = new MetricCollector<long>(meter, instrument);
        collector.RecordObservableInstruments();
        return collector.GetMeasurementSnapshot();
    }

    /// <summary>
    /// One observation of <paramref name="instrument"/> on every meter named <c>GuestMemory</c> in the process,
    /// as <c>dotnet-counters</c> sees them: it listens by meter name, so it hears every manager at once.
    /// (<see cref="MetricCollector{T}"/> follows one instrument, the first it finds, so it cannot show this.)
    /// </summary>
    public static IReadOnlyList<(long Value, Dictionary<string, object?> Tags)> ObserveAllManagers(string instrument)
    {
        var seen = new List<(long, Dictionary<string, object?>)>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (i, l) =>
            {
                if (i.Meter.Name == GuestMemoryMetrics.MeterName && i.Name == instrument) l.EnableMeasurementEvents(i);
            },
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            var copy = new Dictionary<string, object?>();
            foreach (KeyValuePair<string, object?> tag in tags) copy[tag.Key] = tag.Value;
            lock (seen) seen.Add((value, copy));
        });
        listener.Start();
        listener.RecordObservableInstruments();
        return seen;
    }

    /// <summary>
    /// Every instrument of <paramref name="meter"/> observed once, keyed "name" or "name/value/value..." (the
    /// attribute values other than the manager's name, ordered by attribute name). Each
    /// measurement must carry <paramref name="manager"/> as its <c>gmm.manager.name</c>.
    /// </summary>
    public static Dictionary<string, long> ReadAll(Meter meter, string manager)
    {
        var values = new Dictionary<string, long>();
        foreach (Instrument instrument in InstrumentsOf(meter))
            foreach (CollectedMeasurement<long> m in Observe(meter, instrument.Name))
            {
                Assert.Equal(manager, m.Tags["gmm.manager.name"]);
                string key = string.Join('/', m.Tags.Where(t => t.Key != "gmm.manager.name").OrderBy(t => t.Key, StringComparer.Ordinal).Select(t => t.Value).Prepend(instrument.Name));
                Assert.True(values.TryAdd(key, m.Value), $"{key} measured twice");
            }
        return values;
    }
}
