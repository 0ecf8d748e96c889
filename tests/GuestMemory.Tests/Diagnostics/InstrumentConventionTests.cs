using System.Diagnostics.Metrics;
using System.Text.RegularExpressions;
using GuestMemory.Gmm;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Diagnostics;

/// <summary>
/// The instruments follow OpenTelemetry's conventions (singular namespaces, up-down counters for additive
/// counts, UCUM units, namespaced attributes) and docs/metrics.md lists exactly the instruments there are.
/// </summary>
public sealed partial class InstrumentConventionTests
{
    /// <summary>Gauges only for what is not additive: the process's RSS, the same for every manager.</summary>
    private static readonly string[] Gauges = ["gmm.host.rss"];

    private static readonly string[] Units = ["By", "{page}", "{chunk}", "{vm}", "{step}"];

    [Fact]
    public void Names_units_kinds_and_attributes_follow_the_conventions()
    {
        using var gmm = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = 16L << 20 });
        using var vm = gmm.CreateVm(new VmOptions { Name = "a", RamSize = 4L << 20 });
        IReadOnlyList<Instrument> instruments = MeterReading.InstrumentsOf(gmm.Metrics.Meter);

        Assert.NotEmpty(instruments);
        foreach (Instrument instrument in instruments)
        {
            Assert.Matches(Name(), instrument.Name);
            string[] namespaces = instrument.Name.Split('.')[..^1];
            Assert.All(namespaces, n => Assert.False(n.EndsWith('s'), $"{instrument.Name}: namespace '{n}' is plural"));
            Assert.Contains(instrument.Unit, Units);
            Assert.False(string.IsNullOrWhiteSpace(instrument.Description), $"{instrument.Name} has no description");
            bool gauge = Gauges.Contains(instrument.Name);
            Type kind = instrument.GetType().GetGenericTypeDefinition();
            if (gauge) Assert.Equal(typeof(ObservableGauge<>), kind);
            else Assert.True(kind == typeof(ObservableUpDownCounter<>) || kind == typeof(ObservableCounter<>), $"{instrument.Name} is a {kind.Name}");
            if (kind == typeof(ObservableUpDownCounter<>)) Assert.False(instrument.Name.Split('.')[^1].EndsWith('s'), $"up-down counter {instrument.Name} is plural");
            foreach (var m in MeterReading.Observe(gmm.Metrics.Meter, instrument.Name))
                Assert.All(m.Tags.Keys, key => Assert.Matches(Attribute(), key));
        }
    }

    [Fact]
    public void Docs_list_every_instrument_with_its_unit()
    {
        using var gmm = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = 16L << 20 });
        string docs = RepositoryFiles.Read("docs/metrics.md");
        var documented = DocRow().Matches(docs).ToDictionary(m => m.Groups["name"].Value, m => m.Groups["unit"].Value);

        var instruments = MeterReading.InstrumentsOf(gmm.Metrics.Meter).ToDictionary(i => i.Name, i => i.Unit);

        Assert.Equal(instruments.Keys.Order(), documented.Keys.Order());
        foreach ((string name, string? unit) in instruments) Assert.Equal(unit, documented[name]);
    }

    [GeneratedRegex(@"^gmm(\.[a-z_]+)+$")]
    private static partial Regex Name();

    [GeneratedRegex(@"^gmm(\.[a-z_]+)+$")]
    private static partial Regex Attribute();

    /// <summary>A table row of docs/metrics.md: | `name` | kind | unit | ... |</summary>
    [GeneratedRegex(@"^\| `(?<name>gmm\.[a-z_.]+)` \| [^|]+ \| `?(?<unit>[^|`]+?)`? \|", RegexOptions.Multiline)]
    private static partial Regex DocRow();
}
