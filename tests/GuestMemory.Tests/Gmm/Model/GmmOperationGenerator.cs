using GuestMemory.Gmm;

namespace GuestMemory.Tests.Gmm.Model;

/// <summary>
/// Draws random operations with a mix that keeps VMs filling up to their limits (so limit errors happen)
/// while frees, balloons and VM re-creation keep pages flowing between VMs and chunks.
/// </summary>
internal static class GmmOperationGenerator
{
    public const int VmSlots = 4;

    public static GmmOp Next(Random r)
    {
        int vm = r.Next(VmSlots);
        return r.Next(1000) switch
        {
            < 220 => Allocate(r, vm),
            < 320 => new HandyOp(vm, Updates: r.Next(0, 16), NewPages: r.Next(0, 64), Fault(r, PageFault.ForeignPage, PageFault.WrongAccount, PageFault.StalePage, PageFault.UnknownId, PageFault.SharedNotHeld, PageFault.BadFrame), r.Next()),
            < 570 => new FreeOp(vm, Account(r), Count: r.Next(1, 48), SharedReferences: r.Next(3), Fault(r, PageFault.ForeignPage, PageFault.WrongAccount, PageFault.RepeatedInBatch, PageFault.StalePage, PageFault.UnknownId, PageFault.SharedNotHeld), r.Next()),
            < 630 => new AllocateSharedOp(vm, (uint)r.Next(), HostRefuses: r.Next(30) == 0),
            < 700 => new AddReferenceOp(vm, Fault(r, PageFault.PrivatePage, PageFault.StalePage, PageFault.UnknownId), r.Next()),
            < 770 => Balloon(r, vm),
            < 810 => new DeflateOp(vm, Pages: r.Next(-1, 40), TooMany: r.Next(10) == 0),
            < 830 => new RequestBalloonOp(vm, r.Next(-5, 111)),
            < 840 => new ResetBalloonOp(vm),
            < 870 => new UpdateReservationOp(vm, Reservation(r)),
            < 872 => new DestroyVmOp(vm),
            < 885 => new CreateVmOp(vm, Reservation(r), r.Next(4) == 0 ? OvercommitPolicy.NoOvercommit : OvercommitPolicy.Overcommit, (VmPriority)r.Next(1, 4)),
            < 890 => new SetPriorityOp(vm, (VmPriority)r.Next(1, 4)),
            _ => new MapChunkOp(vm, (MapKind)r.Next(6), r.Next()),
        };
    }

    /// <summary>
    /// Mostly small batches, some spanning chunks; one in twenty over the limit. One in forty runs with the host
    /// refusing new chunks, with a batch large enough that the committed chunks often cannot serve it either.
    /// </summary>
    private static AllocateOp Allocate(Random r, int vm)
    {
        bool hostRefuses = r.Next(40) == 0;
        int count = hostRefuses ? r.Next(200, 1000) : r.Next(10) == 0 ? r.Next(100, 700) : r.Next(1, 32);
        return new AllocateOp(vm, Account(r), count, Zero: r.Next(2) == 0, OverLimit: r.Next(20) == 0, hostRefuses);
    }

    /// <summary>Mostly a valid balloon report; one in ten frees more pages than it balloons.</summary>
    private static BalloonOp Balloon(Random r, int vm)
    {
        int ballooned = r.Next(0, 40);
        int free = r.Next(10) == 0 ? ballooned + 1 + r.Next(5) : r.Next(0, ballooned + 1);
        return new BalloonOp(vm, ballooned, free, Completed: r.Next(2) == 0, OverLimit: r.Next(10) == 0, r.Next());
    }

    /// <summary>A reservation the size of the model's VMs; now and then a huge or malformed one.</summary>
    public static AccountPages Reservation(Random r) => r.Next(20) switch
    {
        0 => new AccountPages(r.Next(8000, 30000), r.Next(0, 400), r.Next(0, 100)),
        1 => new AccountPages(r.Next(-2, 1), r.Next(-2, 1), r.Next(-2, 1)),
        _ => new AccountPages(r.Next(1500, 5000), r.Next(0, 400), r.Next(0, 100)),
    };

    private static GmmAccount Account(Random r) => r.Next(10) switch { < 8 => GmmAccount.Base, 8 => GmmAccount.Shadow, _ => GmmAccount.Fixed };

    private static PageFault Fault(Random r, params PageFault[] faults) => r.Next(8) == 0 ? faults[r.Next(faults.Length)] : PageFault.None;
}
