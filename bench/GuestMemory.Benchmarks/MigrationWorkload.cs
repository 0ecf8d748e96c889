using System.Buffers.Binary;
using System.Security.Cryptography;

namespace GuestMemory.Benchmarks;

/// <summary>
/// What <c>gmm bench migrate</c> and <c>gmm migrate send</c> move: a VM of <see cref="RamMib"/> with
/// random data at its start, then "known" content that the target host also holds (another VM there has
/// the same pages, generated from the same seed), zeros elsewhere; a guest thread may keep rewriting the
/// first <see cref="HotMib"/> of the random data at <see cref="WriteMibPerSecond"/>.
/// </summary>
public sealed record MigrationWorkload
{
    public int RamMib { get; init; } = 1024;
    public int RandomMib { get; init; } = 200;
    public int KnownMib { get; init; } = 100;
    /// <summary>The seed of the known content (the target's resident VM uses the same).</summary>
    public int KnownSeed { get; init; } = 1;
    /// <summary>The seed of the random data.</summary>
    public int Seed { get; init; } = 2;
    public int HotMib { get; init; } = 64;
    public double WriteMibPerSecond { get; init; } = 50;
    public string Domain { get; init; } = "bench";

    public long GuestBytes => (long)RamMib << 20;

    /// <exception cref="GmmException"><see cref="GmmError.InvalidArgument"/> when the regions do not fit the RAM.</exception>
    public void Validate()
    {
        if (RamMib <= 0 || RandomMib < 0 || KnownMib < 0 || RandomMib + KnownMib > RamMib || HotMib < 0 || HotMib > RandomMib || WriteMibPerSecond < 0)
            throw new GmmException(GmmError.InvalidArgument, $"need random ({RandomMib}) + known ({KnownMib}) MiB <= RAM ({RamMib}), hot ({HotMib}) <= random, a non-negative write rate");
    }

    /// <summary>Creates the VM and writes its content.</summary>
    public VirtualMachine Create(GlobalMemoryManager gmm, string name)
    {
        Validate();
        VirtualMachine vm = gmm.CreateVm(new VmOptions { Name = name, RamSize = GuestBytes, SharingDomain = Domain });
        var random = new Random(Seed);
        byte[] page = new byte[Paging.PageSize];
        long randomPages = Pages(RandomMib);
        for (long p = 0; p < randomPages; p++)
        {
            random.NextBytes(page);
            vm.Memory.Write((ulong)p << Paging.PageShift, page);
        }
        WriteKnown(vm, randomPages, Pages(KnownMib), KnownSeed);
        return vm;
    }

    /// <summary>The target host's VM that already holds the known content (its pages private, as a guest wrote them).</summary>
    public static VirtualMachine CreateResident(GlobalMemoryManager gmm, int knownMib, int knownSeed, string domain)
    {
        VirtualMachine vm = gmm.CreateVm(new VmOptions { Name = "resident", RamSize = (long)knownMib << 20, SharingDomain = domain });
        WriteKnown(vm, 0, Pages(knownMib), knownSeed);
        return vm;
    }

    /// <summary>Page <paramref name="index"/> of the known content of <paramref name="seed"/>: 4 KiB of a fast generator.</summary>
    public static void KnownPage(int seed, long index, Span<byte> page)
    {
        ulong x = (ulong)(uint)seed << 32 ^ (ulong)index * 0x9E3779B97F4A7C15UL ^ 0xD1B54A32D192ED03UL;
        for (int at = 0; at < page.Length; at += sizeof(ulong))
        {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            BinaryPrimitives.WriteUInt64LittleEndian(page[at..], x * 0x2545F4914F6CDD1DUL);
        }
    }

    /// <summary>SHA-256 of the VM's RAM, for checking that a moved VM arrived byte for byte.</summary>
    public static string Digest(VirtualMachine vm)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] chunk = new byte[1 << 20];
        for (long at = 0; at < vm.Options.RamSize; at += chunk.Length)
        {
            int n = (int)Math.Min(chunk.Length, vm.Options.RamSize - at);
            vm.Memory.Read((ulong)at, chunk.AsSpan(0, n));
            sha.AppendData(chunk, 0, n);
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    private static void WriteKnown(VirtualMachine vm, long firstPage, long pages, int seed)
    {
        byte[] page = new byte[Paging.PageSize];
        for (long p = 0; p < pages; p++)
        {
            KnownPage(seed, p, page);
            vm.Memory.Write((ulong)(firstPage + p) << Paging.PageShift, page);
        }
    }

    private static long Pages(int mib) => (long)mib << 20 >> Paging.PageShift;
}
