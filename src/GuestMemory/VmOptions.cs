using GuestMemory.Gmm;

namespace GuestMemory;

/// <summary>How to create a VM. Validated by <see cref="GlobalMemoryManager.CreateVm"/>.</summary>
public sealed record VmOptions
{
    /// <summary>A name for tools, logs and reports.</summary>
    public required string Name { get; init; }

    /// <summary>Guest RAM in bytes, registered at guest-physical address 0; a multiple of 4 KiB.</summary>
    public required long RamSize { get; init; }

    /// <summary>Who keeps memory longest when it is short.</summary>
    public VmPriority Priority { get; init; } = VmPriority.Normal;

    /// <summary>Whether the VM's reservation may be over-committed.</summary>
    public OvercommitPolicy Policy { get; init; } = OvercommitPolicy.Overcommit;

    /// <summary>
    /// The trust domain of page sharing: pages are shared only between VMs of the same domain (sharing
    /// across tenants is a known side channel).
    /// </summary>
    public string SharingDomain { get; init; } = "default";

    /// <summary>Whether page fusion may share and zero this VM's pages at all.</summary>
    public bool PageSharing { get; init; } = true;

    /// <summary>
    /// Guest RAM the balloon never takes away, in bytes (Hyper-V's "minimum RAM"): the balloon holds at
    /// most <see cref="RamSize"/> - MinimumRam. A multiple of 4 KiB; default 0.
    /// </summary>
    public long MinimumRam { get; init; }

    /// <summary>
    /// Guest RAM the guest may use at most, in bytes (Hyper-V's "maximum RAM"): the balloon holds at
    /// least <see cref="RamSize"/> - MaximumRam. A multiple of 4 KiB between <see cref="MinimumRam"/> and
    /// <see cref="RamSize"/>; null (the default) means all of RamSize.
    /// </summary>
    public long? MaximumRam { get; init; }

    /// <summary>
    /// The VM's memory weight, 1..10,000 (ESX "shares", Hyper-V "memory weight"): with
    /// <see cref="Priority"/> it sets how much memory the VM keeps when the host is short. Default 100.
    /// </summary>
    public int Weight { get; init; } = 100;

    /// <summary>The longest name a VM may have (names label metrics, logs, stores and migration messages).</summary>
    public const int MaxNameLength = 256;

    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(Name)) throw new GmmException(GmmError.InvalidArgument, "a VM needs a name");
        if (Name.Length > MaxNameLength || Name.Any(char.IsControl))
            throw new GmmException(GmmError.InvalidArgument, $"a VM name is at most {MaxNameLength} characters without control characters, not '{(Name.Length > 64 ? Name[..64] + "..." : Name)}'");
        if (SharingDomain is null) throw new GmmException(GmmError.InvalidArgument, "SharingDomain must not be null");
        if (RamSize <= 0 || (RamSize & Paging.PageOffsetMask) != 0)
            throw new GmmException(GmmError.InvalidArgument, $"RamSize must be a positive multiple of 4 KiB, not {RamSize}");
        if ((ulong)RamSize > Phys.GuestPhysicalMemory.MaxAddress)
            throw new GmmException(GmmError.InvalidArgument, $"RamSize {RamSize} is beyond the 2^52 guest-physical limit");
        if (RamSize >> Paging.PageShift > Phys.GuestPhysicalMemory.MaxRangePages)
            throw new GmmException(GmmError.InvalidArgument, $"RamSize {RamSize} is more than one range holds ({Phys.GuestPhysicalMemory.MaxRangePages} pages)");
        long maximum = MaximumRam ?? RamSize;
        if (MinimumRam < 0 || (MinimumRam & Paging.PageOffsetMask) != 0 || (maximum & Paging.PageOffsetMask) != 0)
            throw new GmmException(GmmError.InvalidArgument, $"MinimumRam ({MinimumRam}) and MaximumRam ({maximum}) must be non-negative multiples of 4 KiB");
        if (maximum <= 0 || MinimumRam > maximum || maximum > RamSize)
            throw new GmmException(GmmError.InvalidArgument, $"need 0 <= MinimumRam ({MinimumRam}) <= MaximumRam ({maximum}) <= RamSize ({RamSize}) and MaximumRam > 0");
        if (Weight is < 1 or > 10_000)
            throw new GmmException(GmmError.InvalidArgument, $"Weight must be 1..10,000, not {Weight}");
    }
}
