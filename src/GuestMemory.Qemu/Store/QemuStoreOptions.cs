namespace GuestMemory.Qemu;

/// <summary>How a <see cref="QemuVmStore"/> keeps its VMs.</summary>
public sealed record QemuStoreOptions
{
    /// <summary>The folder the VMs persist in (created if missing), or null to keep them in host memory only (lost when the process ends).</summary>
    public string? Directory { get; init; }

    /// <summary>
    /// Whether a persisted VM's RAM also stays in host memory as a GuestMemory VM. Default false: once its
    /// files are safely on disk its pages go back to the host, and a resume or move reads it from the
    /// files. True makes the store a host that answers content references of moves from its memory (see
    /// <c>QemuVmStore.ReceiveMove</c>). Without a folder VMs are always resident.
    /// </summary>
    public bool KeepResident { get; init; }

    /// <summary>The trust domain the stored VMs share pages in (page fusion shares only within one domain).</summary>
    public string SharingDomain { get; init; } = "qemu-store";

    /// <summary>Opens the folder for reading only (a list or a resume beside the process that writes it): no lock taken, receives and deletes refused.</summary>
    public bool ReadOnly { get; init; }
}
