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

    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(Name)) throw new GmmException(GmmError.InvalidArgument, "a VM needs a name");
        if (SharingDomain is null) throw new GmmException(GmmError.InvalidArgument, "SharingDomain must not be null");
        if (RamSize <= 0 || (RamSize & Paging.PageOffsetMask) != 0)
            throw new GmmException(GmmError.InvalidArgument, $"RamSize must be a positive multiple of 4 KiB, not {RamSize}");
        if ((ulong)RamSize > Phys.GuestPhysicalMemory.MaxAddress)
            throw new GmmException(GmmError.InvalidArgument, $"RamSize {RamSize} is beyond the 2^52 guest-physical limit");
    }
}
