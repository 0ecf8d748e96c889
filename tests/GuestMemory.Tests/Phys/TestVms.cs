using GuestMemory.Gmm;
using GuestMemory.Phys;

namespace GuestMemory.Tests.Phys;

/// <summary>Small managers and VMs for the Phys tests, so each test states only what it is about.</summary>
internal static class TestVms
{
    public const int PageSize = Paging.PageSize;

    /// <summary>A manager over <paramref name="hostMib"/> MiB with no spare chunks, so page and chunk counts are exact.</summary>
    public static GlobalMemoryManager CreateManager(int hostMib = 32, int spareChunks = 0, double overcommitRatio = 4.0) =>
        new(new GmmOptions { HostMemoryLimit = (long)hostMib << 20, SpareEmptyChunks = spareChunks, OvercommitRatio = overcommitRatio });

    /// <summary>A VM with <paramref name="ramPages"/> pages of RAM at guest address 0.</summary>
    public static VirtualMachine AddVm(this GlobalMemoryManager gmm, int ramPages = 64, string name = "vm") =>
        gmm.CreateVm(new VmOptions { Name = name, RamSize = (long)ramPages * PageSize });

    /// <summary>Deterministic pseudo-random bytes.</summary>
    public static byte[] Bytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>Reads <paramref name="length"/> bytes through the public API.</summary>
    public static byte[] ReadBytes(this GuestPhysicalMemory memory, ulong address, int length)
    {
        var bytes = new byte[length];
        memory.Read(address, bytes);
        return bytes;
    }

    /// <summary>The raw packed entry of the page holding <paramref name="address"/>.</summary>
    public static ulong Entry(this GuestPhysicalMemory memory, ulong address)
    {
        MemoryRange range = memory.Ranges.First(r => r.Contains(address));
        return GuestPhysicalMemory.ReadEntry(range, (int)((address - range.Start) >> Paging.PageShift));
    }

    /// <summary>Asserts that <paramref name="call"/> throws a <see cref="GmmException"/> carrying <paramref name="expected"/>.</summary>
    public static GmmException Fails(GmmError expected, Action call)
    {
        GmmException e = Assert.Throws<GmmException>(call);
        Assert.Equal(expected, e.Error);
        return e;
    }

    /// <summary>
    /// Asserts that <paramref name="call"/> fails with <paramref name="expected"/> and that nothing observable
    /// of the manager or <paramref name="vm"/> changed (figures, entries, RAM/ROM content), then verifies.
    /// </summary>
    public static void FailsUnchanged(GlobalMemoryManager gmm, VirtualMachine vm, GmmError expected, Action call)
    {
        PhysSnapshot before = PhysSnapshot.Take(gmm, vm);
        Fails(expected, call);
        PhysSnapshot.Take(gmm, vm).AssertSameAs(before);
        gmm.Verify();
    }

    /// <summary>Destroys every VM and checks that the Gmm is back to nothing in use and consistent.</summary>
    public static void DestroyAllAndVerify(this GlobalMemoryManager gmm)
    {
        foreach (VirtualMachine vm in gmm.Vms) gmm.DestroyVm(vm);
        GmmStatistics s = gmm.Statistics;
        Assert.Equal((0L, 0L, 0L, 0L, 0), (s.AllocatedPages, s.PrivatePages, s.SharedPages, s.ReservedPages, s.Vms));
        gmm.Verify();
    }
}
