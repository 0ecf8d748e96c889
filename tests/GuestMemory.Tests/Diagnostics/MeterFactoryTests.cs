using System.Diagnostics.Metrics;
using GuestMemory.Diagnostics;
using GuestMemory.Gmm;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace GuestMemory.Tests.Diagnostics;

/// <summary>
/// A host with dependency injection hands the manager its <see cref="IMeterFactory"/>: the meter then comes
/// from the factory (so the host's listeners scoped to it see the instruments), carries the package's
/// version and the manager's name, and outlives the manager without reporting for it.
/// </summary>
public sealed class MeterFactoryTests
{
    [Fact]
    public void The_meter_comes_from_the_factory_with_the_package_version()
    {
        using ServiceProvider services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factory = services.GetRequiredService<IMeterFactory>();
        using var gmm = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = 8L << 20, Name = "di-host", MeterFactory = factory });
        using var vm = gmm.CreateVm(new VmOptions { Name = "web", RamSize = 4L << 20 });

        using var collector = new MetricCollector<long>(factory, GuestMemoryMetrics.MeterName, "gmm.vm.count");
        collector.RecordObservableInstruments();

        CollectedMeasurement<long> vms = Assert.Single(collector.GetMeasurementSnapshot());
        Assert.Equal(1, vms.Value);
        Assert.Equal("di-host", vms.Tags["gmm.manager.name"]);
        Assert.Same(factory, gmm.Metrics.Meter.Scope);
        Version package = typeof(GlobalMemoryManager).Assembly.GetName().Version!;
        Assert.Equal($"{package.Major}.{package.Minor}.{package.Build}", gmm.Metrics.Meter.Version);
    }

    [Fact]
    public void Without_a_factory_the_manager_disposes_its_own_meter()
    {
        var gmm = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = 8L << 20 });
        Meter meter = gmm.Metrics.Meter;
        Assert.NotEmpty(MeterReading.InstrumentsOf(meter));

        gmm.Dispose();

        Assert.Empty(MeterReading.InstrumentsOf(meter));
    }
}
