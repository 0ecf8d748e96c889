using GuestMemory.Gmm;

namespace GuestMemory.Tests.Diagnostics;

/// <summary>
/// Two managers in one process: a listener of the meter name (as <c>dotnet-counters</c> is) sees each
/// manager's figures under its own <c>gmm.manager.name</c>, never one figure flipping between them.
/// </summary>
public sealed class ManagerNameTests
{
    [Fact]
    public void A_listener_of_the_meter_name_tells_two_managers_apart()
    {
        using var small = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = 32L << 20, Name = "small" });
        using var large = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = 64L << 20, Name = "large" });
        using var one = small.CreateVm(new VmOptions { Name = "one", RamSize = 4L << 20 });
        using var two = large.CreateVm(new VmOptions { Name = "two", RamSize = 4L << 20 });
        using var three = large.CreateVm(new VmOptions { Name = "three", RamSize = 4L << 20 });
        two.Memory.Write(0, new byte[3 * Paging.PageSize]);
        three.Memory.Write(0, Enumerable.Repeat((byte)7, 5 * Paging.PageSize).ToArray());

        var vms = MeterReading.ObserveAllManagers("gmm.vm.count");
        var limits = MeterReading.ObserveAllManagers("gmm.host.memory.limit");

        Assert.Equal(1, Single(vms, "small"));
        Assert.Equal(2, Single(vms, "large"));
        Assert.Equal(32L << 20, Single(limits, "small"));
        Assert.Equal(64L << 20, Single(limits, "large"));
    }

    [Fact]
    public void Default_names_differ_and_a_given_name_is_kept()
    {
        using var first = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = 8L << 20 });
        using var second = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = 8L << 20 });
        using var named = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = 8L << 20, Name = "host-a" });

        Assert.Matches("^gmm-[0-9]+$", first.Name);
        Assert.Matches("^gmm-[0-9]+$", second.Name);
        Assert.NotEqual(first.Name, second.Name);
        Assert.Equal("host-a", named.Name);
        Assert.Contains(named.Metrics.Meter.Tags!, t => t.Key == "gmm.manager.name" && (string?)t.Value == "host-a");
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("bad\u001b[31mname")]
    public void A_name_without_a_visible_character_or_with_control_characters_is_refused(string name)
    {
        var e = Assert.Throws<GmmException>(() => new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = 8L << 20, Name = name }));
        Assert.Equal(GmmError.InvalidArgument, e.Error);
    }

    [Fact]
    public void A_disposed_manager_reports_nothing()
    {
        var gmm = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = 8L << 20, Name = "gone" });
        Assert.Equal(0, Single(MeterReading.ObserveAllManagers("gmm.vm.count"), "gone"));

        gmm.Dispose();

        Assert.DoesNotContain(MeterReading.ObserveAllManagers("gmm.vm.count"), m => (string?)m.Tags["gmm.manager.name"] == "gone");
    }

    /// <summary>The one value an observation holds for <paramref name="manager"/>.</summary>
    private static long Single(IReadOnlyList<(long Value, Dictionary<string, object?> Tags)> observed, string manager) =>
        Assert.Single(observed, m => (string?)m.Tags["gmm.manager.name"] == manager).Value;
}
