namespace GuestMemory.Qemu;

/// <summary>What <see cref="QemuVmStore.List"/> reports of one stored VM.</summary>
/// <param name="Name">Its name in the store.</param>
/// <param name="Machine">QEMU's machine type.</param>
/// <param name="GuestRamBytes">All its RAM blocks.</param>
/// <param name="NonZeroPages">Pages that are not zero.</param>
/// <param name="AlonePages">Non-zero pages whose content no other page of the store has.</param>
/// <param name="SharedPages">Non-zero pages whose content other pages (of this VM or others) have too: kept once.</param>
/// <param name="FileBytes">Bytes of its files in the store folder: its manifest and the page file of the contents it brought (0 without a folder).</param>
/// <param name="Resident">Whether its RAM is held in host memory now (a store without a folder, or one told to keep VMs resident).</param>
/// <param name="Devices">Device sections kept.</param>
public sealed record StoredVmInfo(string Name, string Machine, long GuestRamBytes, long NonZeroPages, long AlonePages, long SharedPages, long FileBytes, bool Resident, int Devices)
{
    /// <summary>Its main RAM block (QEMU's block 0: the guest's RAM, without BIOS, ROMs and video RAM), bytes: the RAM size of a guest it resumes in.</summary>
    public long MainRamBytes { get; init; }
}

/// <summary>One VM of a <see cref="QemuVmStore"/>: its QEMU state, its pages' content references and, when resident, its GuestMemory VM.</summary>
internal sealed class StoredVm
{
    public StoredVm(string name, QemuVmState state, ulong[]? refs, VirtualMachine? vm, int segment, long manifestBytes)
    {
        Name = name;
        State = state;
        Refs = refs;
        Vm = vm;
        Segment = segment;
        ManifestBytes = manifestBytes;
    }

    public string Name { get; }
    public QemuVmState State { get; }
    /// <summary>Per page of all blocks in order: 0 for a zero page, else <see cref="PageRefs"/>' reference. Null in a store without a folder.</summary>
    public ulong[]? Refs { get; }
    /// <summary>The GuestMemory VM while its RAM is resident.</summary>
    public VirtualMachine? Vm { get; set; }
    /// <summary>The page file written with it, or -1.</summary>
    public int Segment { get; }
    public long ManifestBytes { get; }
    /// <summary>Operations (resumes, moves) reading it now: a delete waits for none (guarded by the store's lock).</summary>
    public int Readers { get; set; }
}

/// <summary>Content references: <c>(segment + 1) &lt;&lt; 32 | page index</c>; 0 is the zero page.</summary>
internal static class PageRefs
{
    public static ulong Make(int segment, int index) => (ulong)(uint)(segment + 1) << 32 | (uint)index;
    public static int Segment(ulong reference) => (int)(reference >> 32) - 1;
    public static int Index(ulong reference) => (int)(uint)reference;
}
