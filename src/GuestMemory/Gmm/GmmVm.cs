namespace GuestMemory.Gmm;

/// <summary>
/// The Gmm's view of one VM (seed: GVM's GMMPERVM): reservations and allocations per account,
/// shared references, balloon accounting, policy, priority, its affinity free set and mapped chunks.
/// Every field is guarded by the <see cref="PageManager"/> lock.
/// </summary>
internal sealed class GmmVm(VmHandle handle, string name, FreeSet? commonSet = null)
{
    public readonly VmHandle Handle = handle;
    public readonly string Name = name;
    public readonly long[] Reserved = new long[3];
    /// <summary>Private pages per account; base also carries shared references in <see cref="Allocated"/>.</summary>
    public readonly long[] Private = new long[3];
    /// <summary>Shared page id → how many of this VM's guest pages reference it.</summary>
    public readonly Dictionary<uint, int> SharedRefs = [];
    public long SharedReferences;
    public long Ballooned;
    public long RequestedBalloon;
    public long ActuallyBallooned;
    public long RequestedDeflate;
    public OvercommitPolicy Policy;
    /// <summary>Created by <see cref="GlobalMemoryManager.CreateVm"/>: its pages belong to its guest-physical memory, which alone changes them.</summary>
    public bool Managed;
    public VmPriority Priority;
    /// <summary>The free set the VM allocates from: its own, or the one all VMs share when placement has no VM affinity.</summary>
    public readonly FreeSet Affinity = commonSet ?? new($"vm {handle.Value}");
    public readonly HashSet<int> MappedChunks = [];

    public long Allocated(GmmAccount account) =>
        account == GmmAccount.Base ? Private[0] + SharedReferences : Private[(int)account];

    public AccountPages ReservedPages => new(Reserved[0], Reserved[1], Reserved[2]);
    public AccountPages AllocatedPages => new(Allocated(GmmAccount.Base), Private[1], Private[2]);

    /// <summary>The seed's per-account check: base counts ballooned pages too.</summary>
    public long Headroom(GmmAccount account) => account == GmmAccount.Base
        ? Reserved[0] - Allocated(GmmAccount.Base) - Ballooned
        : Reserved[(int)account] - Private[(int)account];
}
