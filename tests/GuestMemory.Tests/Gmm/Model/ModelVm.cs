using GuestMemory.Gmm;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Gmm.Model;

/// <summary>One VM as the reference model sees it: plain collections and counters, no cleverness.</summary>
internal sealed class ModelVm(VmHandle handle, AccountPages reserved, OvercommitPolicy policy, VmPriority priority, byte fill)
{
    public VmHandle Handle { get; } = handle;
    public AccountPages Reserved { get; set; } = reserved;
    public OvercommitPolicy Policy { get; } = policy;
    public VmPriority Priority { get; set; } = priority;
    /// <summary>The byte this VM's pages are filled with, to catch pages leaking between VMs.</summary>
    public byte Fill { get; } = fill;
    public PickList<PageId>[] Private { get; } = [new(), new(), new()];
    /// <summary>Base pages that back no guest frame yet (handed out as handy pages).</summary>
    public PickList<PageId> HandyPages { get; } = new();
    /// <summary>Shared page → how many references this VM holds.</summary>
    public Dictionary<PageId, int> SharedReferences { get; } = [];
    public long SharedReferenceCount => SharedReferences.Values.Sum();
    public long Ballooned, RequestedBalloon, ActuallyBallooned, RequestedDeflate;
    /// <summary>Chunk → mapped (true), not mapped (false, or absent) or unknown (null: the chunk may have been given back meanwhile).</summary>
    public Dictionary<int, bool?> Mapped { get; } = [];
    public ulong NextGuestFrame;

    public long Allocated(GmmAccount account) =>
        account == GmmAccount.Base ? Private[0].Count + SharedReferenceCount : Private[(int)account].Count;

    /// <summary>The seed's account check: base counts ballooned pages too.</summary>
    public long Headroom(GmmAccount account) =>
        account == GmmAccount.Base ? Reserved.Base - Allocated(GmmAccount.Base) - Ballooned : Reserved[account] - Private[(int)account].Count;

    public bool? IsMapped(int chunk) => Mapped.TryGetValue(chunk, out bool? mapped) ? mapped : false;

    /// <summary>One entry per reference, for picking references to drop.</summary>
    public List<PageId> ReferenceList() => SharedReferences.SelectMany(r => Enumerable.Repeat(r.Key, r.Value)).ToList();

    public GmmVmStatistics ExpectedStatistics(string name) => new()
    {
        Handle = Handle,
        Name = name,
        Reserved = Reserved,
        Allocated = new AccountPages(Allocated(GmmAccount.Base), Private[1].Count, Private[2].Count),
        PrivatePages = Private.Sum(p => p.Count),
        SharedPages = SharedReferenceCount,
        BalloonedPages = Ballooned,
        RequestedBalloonPages = RequestedBalloon,
        ActuallyBalloonedPages = ActuallyBallooned,
        RequestedDeflatePages = RequestedDeflate,
        Policy = Policy,
        Priority = Priority,
    };
}
