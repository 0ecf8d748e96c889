using GuestMemory.Gmm;
using GuestMemory.Phys;
using Microsoft.Extensions.Logging;

namespace GuestMemory.Tests.Balloon.Support;

/// <summary>A manager for one balloon test, with helpers to make VMs and to snapshot all state.</summary>
internal sealed class BalloonHost : IDisposable
{
    public const long Mib = 1L << 20;
    public const long PagesPerMib = Mib / Paging.PageSize;

    public BalloonHost(long hostMib = 64, double overcommitRatio = 4.0, ILoggerFactory? logs = null)
    {
        Manager = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = hostMib * Mib, OvercommitRatio = overcommitRatio }, logs);
    }

    public GlobalMemoryManager Manager { get; }

    public VirtualMachine Vm(string name, long ramMib = 4, VmPriority priority = VmPriority.Normal,
        long minimumMib = 0, long? maximumMib = null, int weight = 100, OvercommitPolicy policy = OvercommitPolicy.Overcommit) =>
        Manager.CreateVm(new VmOptions
        {
            Name = name,
            RamSize = ramMib * Mib,
            Priority = priority,
            MinimumRam = minimumMib * Mib,
            MaximumRam = maximumMib * Mib,
            Weight = weight,
            Policy = policy,
        });

    /// <summary>Everything a failed call must leave as it was: global and per-VM figures, targets.</summary>
    public string Snapshot()
    {
        var parts = new List<string> { Manager.Statistics.ToString() };
        foreach (VirtualMachine vm in Manager.Vms)
            parts.Add($"{vm.Accounts} {vm.Memory.GetStatistics()} target={vm.Balloon.TargetPages}");
        return string.Join(Environment.NewLine, parts);
    }

    /// <summary>Writes a recognisable byte pattern to <paramref name="pages"/> pages from frame <paramref name="first"/>.</summary>
    public static void Fill(VirtualMachine vm, long first, long pages, byte seed)
    {
        var page = new byte[Paging.PageSize];
        for (long frame = first; frame < first + pages; frame++)
        {
            page.AsSpan().Fill((byte)(seed + frame));
            vm.Memory.Write(Address(frame), page);
        }
    }

    /// <summary>True when every page holds what <see cref="Fill"/> wrote.</summary>
    public static bool Holds(VirtualMachine vm, long first, long pages, byte seed)
    {
        var page = new byte[Paging.PageSize];
        for (long frame = first; frame < first + pages; frame++)
        {
            vm.Memory.Read(Address(frame), page);
            if (page.AsSpan().IndexOfAnyExcept((byte)(seed + frame)) >= 0) return false;
        }
        return true;
    }

    /// <summary>True when every page reads zero.</summary>
    public static bool IsZero(VirtualMachine vm, long first, long pages)
    {
        var page = new byte[Paging.PageSize];
        for (long frame = first; frame < first + pages; frame++)
        {
            vm.Memory.Read(Address(frame), page);
            if (page.AsSpan().IndexOfAnyExcept((byte)0) >= 0) return false;
        }
        return true;
    }

    public static ulong Address(long frame) => (ulong)frame << Paging.PageShift;

    public static ulong[] Addresses(long first, long count) =>
        Enumerable.Range(0, (int)count).Select(i => Address(first + i)).ToArray();

    public static GuestPageState PageState(VirtualMachine vm, long frame) => vm.Memory.GetPage(Address(frame)).State;

    public void Dispose() => Manager.Dispose();
}
